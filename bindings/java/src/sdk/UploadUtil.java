package sdk;

/**
 * The parking SDK, with the vendor's {@code sdk.UploadUtil} interface: programs written for the
 * vendor's Java SDK compile and run against this class unchanged.
 *
 * <p>One SDK runs per process. Every method takes the request as a JSON string and returns the
 * answer as a JSON string: {@code {"state":1|0,"errcode":N,"errmsg":"..."}} plus the call's own
 * fields ({@code errcode} is bolink's addition; its values are listed in {@code bolink.h}).
 * Errors, including a null argument, are answers, never exceptions. Every method may be called
 * from any thread, and from inside {@link InterfacePark#receive} (except {@link #unInit}).
 */
public class UploadUtil {

    /**
     * Starts the SDK and connects in the background. Called again before {@link #unInit} it
     * answers {@code {"state":0,"errmsg":"sdk has been initialized! ..."}}.
     *
     * @param strJsonData the vendor's init fields (bolink's own fields are accepted too)
     * @return whether the configuration was accepted
     */
    public static String init(String strJsonData) {
        return UploadUtilNative.jni_Init(strJsonData);
    }

    /**
     * Stops the SDK; {@link #init} may follow again. Does nothing when the SDK is not running.
     * Not from inside {@link InterfacePark#receive}: there it is refused and does nothing.
     */
    public static void unInit() {
        UploadUtilNative.jni_UnInit();
    }

    /**
     * 2.1: a vehicle entered. Committed to the outbox and answered at once.
     *
     * @param strJsonData the entry's fields
     * @return the local answer
     */
    public static String uploadInParkOrder(String strJsonData) {
        return UploadUtilNative.jni_UploadInParkOrder(strJsonData);
    }

    /**
     * 2.2: a vehicle left. Committed to the outbox and answered at once; the result of an
     * electronic payment arrives later through the receiver.
     *
     * @param strJsonData the exit's fields
     * @return the local answer
     */
    public static String uploadOutParkOrder(String strJsonData) {
        return UploadUtilNative.jni_UploadOutParkOrder(strJsonData);
    }

    /**
     * 4.1: whether a plate can pay password-free, and whether the link is up. Answered locally.
     *
     * @param strJsonData {@code service_name} "pay_status", {@code car_number}, {@code order_id}
     * @return {@code state}, {@code is_exist}, {@code balance}, {@code autopay},
     *     {@code net_status}
     */
    public static String getPayStatus(String strJsonData) {
        return UploadUtilNative.jni_GetPayStatus(strJsonData);
    }

    /**
     * Every other upstream message ({@code service_name} and {@code data_target} at the top),
     * and every reply to a downstream message. The server's answer to an upload reaches the
     * receiver later.
     *
     * @param strJsonData the message
     * @return the local answer
     */
    public static String uploadData(String strJsonData) {
        return UploadUtilNative.jni_UploadData(strJsonData);
    }

    /**
     * As {@link #uploadData}, but waits for the server's answer (up to the init field
     * {@code sync_timeout_ms}, 10 s by default) and returns it.
     *
     * @param strJsonData the message
     * @return the server's answer, or a TIMEOUT error (the message stays queued)
     */
    public static String uploadDataSync(String strJsonData) {
        return UploadUtilNative.jni_UploadDataSync(strJsonData);
    }

    /**
     * Registers the receiver of downstream messages, replacing any earlier one. Messages that
     * arrive while none is registered wait for one.
     *
     * @param interfacePark the receiver; null unregisters
     */
    public static void setInterfacePark(InterfacePark interfacePark) {
        UploadUtilNative.jni_SetInterfacePark(interfacePark);
    }
}
