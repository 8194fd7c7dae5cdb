package sdk;

/**
 * The receiver of downstream messages: the cloud's requests (price queries, payments, locks,
 * data sync) and the server's answers to earlier {@link UploadUtil#uploadData} calls.
 *
 * <p>Extend it, implement {@link #receive}, and register an instance with
 * {@link UploadUtil#setInterfacePark}. The library keeps a reference to the instance until
 * another one is registered.
 */
public abstract class InterfacePark {

    protected InterfacePark() {
    }

    /**
     * Receives one downstream message, a JSON object with a top-level {@code service_name}.
     *
     * <p>Called on the SDK's own thread, one message at a time, never on the thread that
     * registered the receiver: hand UI work to the UI thread (for Swing,
     * {@code SwingUtilities.invokeLater}). Replies to the cloud's requests go out with
     * {@link UploadUtil#uploadData}, which may be called from here. An exception thrown here is
     * printed with its stack trace and the SDK goes on with the next message. Do not call
     * {@link UploadUtil#unInit} from here.
     *
     * @param msg the message as the cloud sent it
     */
    public abstract void receive(String msg);

    /** The entry point the native side calls for every message; it only forwards. */
    static void callBack(InterfacePark park, String msg) {
        park.receive(msg);
    }
}
