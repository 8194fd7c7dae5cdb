package sdk;

import java.io.File;

/**
 * The native methods behind {@link UploadUtil}, implemented by the bolink library
 * ({@code bolink.dll} on Windows, {@code libbolink.so} on Linux).
 *
 * <p>The library is loaded when this class is first used: from the file (or directory) named by
 * the system property {@code bolink.library.path} when it is set, otherwise by name from
 * {@code java.library.path}. A library that cannot be loaded gives an
 * {@link UnsatisfiedLinkError} saying where it was looked for.
 *
 * <p>Every method takes and returns JSON text and may be called from any thread; a null
 * argument is answered with an error, never an exception.
 */
public class UploadUtilNative {

    static {
        loadLibrary();
    }

    private static void loadLibrary() {
        String name = System.mapLibraryName("bolink");
        String path = System.getProperty("bolink.library.path");
        String tried = "";
        if (path != null && path.length() > 0) {
            File file = new File(path);
            if (file.isDirectory()) {
                file = new File(file, name);
            }
            try {
                System.load(file.getAbsolutePath());
                return;
            } catch (UnsatisfiedLinkError e) {
                tried = "bolink.library.path: " + e.getMessage() + "; ";
            }
        }
        try {
            System.loadLibrary("bolink");
        } catch (UnsatisfiedLinkError e) {
            throw new UnsatisfiedLinkError("cannot load the bolink library " + name + " ("
                    + tried + "java.library.path: " + e.getMessage() + "); set "
                    + "-Djava.library.path=<its directory> or -Dbolink.library.path=<its file>");
        }
    }

    /** Starts the SDK with the init JSON; answers whether the configuration was accepted. */
    public static native String jni_Init(String strJsonData);

    /** Stops the SDK; refused from inside {@link InterfacePark#receive}. */
    public static native String jni_UnInit();

    /** 2.1: a vehicle entered. */
    public static native String jni_UploadInParkOrder(String strJsonData);

    /** 2.2: a vehicle left. */
    public static native String jni_UploadOutParkOrder(String strJsonData);

    /** 4.1: password-free payment status of a plate, and the link state. */
    public static native String jni_GetPayStatus(String strJsonData);

    /** Registers the receiver of downstream messages; null unregisters. */
    public static native void jni_SetInterfacePark(InterfacePark interfacePark);

    /** Every other upstream message, and every reply to a downstream message. */
    public static native String jni_UploadData(String strJsonData);

    /** As {@link #jni_UploadData}, waiting for the server's answer. */
    public static native String jni_UploadDataSync(String strJsonData);
}
