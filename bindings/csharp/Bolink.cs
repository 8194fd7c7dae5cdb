// Bolink.cs: C# bindings for bolink, the Bolink parking-cloud SDK library.
//
// One file, no dependencies: add it to a project for .NET Framework 4.x or modern .NET (C# 7
// syntax at most, so the compiler of either, and Mono's mcs, take it).
//
// Loading the library: [DllImport("bolink")] finds bolink.dll on Windows (next to the .exe or on
// PATH; use the build matching the process: x86 or x64) and libbolink.so on Linux (.NET and Mono
// look for "libbolink.so" on LD_LIBRARY_PATH and in the application directory; with Mono a
// <dllmap dll="bolink" target="/opt/bolink/libbolink.so"/> in the application's .config file
// points to another place).
//
// Conventions:
//  * Every call takes and returns JSON text, as the vendor's UploadUtil does: the answer is
//    {"state":1|0,"errcode":N,"errmsg":"..."} plus the call's own fields. Errors are answers,
//    not exceptions; errcode values are listed in bolink.h and never change.
//  * Strings cross the boundary as UTF-8 bytes converted here, whatever the system code page.
//  * Every method may be called from any thread.
//  * The receive handler runs on the SDK's own thread, one message at a time, never on the UI
//    thread: hand work to the UI with Control.BeginInvoke or Dispatcher.BeginInvoke, or leave the
//    handler unset and call UploadUtil.PollMessage from a UI timer. An exception thrown by the
//    handler is caught here (it must never unwind into native code) and reported through
//    UploadUtil.HandlerFailed, or written to Console.Error when nobody listens.

using System;
using System.Runtime.InteropServices;
using System.Text;

namespace Bolink
{
    /// <summary>
    /// Receives one downstream message (JSON text) on the SDK's dispatcher thread.
    /// </summary>
    public delegate void ReceiveHandler(string json);

    /// <summary>
    /// Reports an exception thrown by the receive handler, with the message it got.
    /// </summary>
    public delegate void HandlerFailedHandler(Exception error, string json);

    /// <summary>
    /// The library is missing, cannot be loaded, or is older than these bindings.
    /// </summary>
    public class BolinkException : Exception
    {
        /// <summary>Creates the exception with its message and the underlying cause.</summary>
        public BolinkException(string message, Exception inner) : base(message, inner) { }
    }

    /// <summary>
    /// The SDK, mirroring the vendor's UploadUtil: one running SDK per process, JSON in and out.
    /// Thread-safe; see the conventions at the top of this file.
    /// </summary>
    public static class UploadUtil
    {
        /// <summary>The oldest bolink_abi_version these bindings work with.</summary>
        public const uint RequiredAbiVersion = 1;

        /// <summary>
        /// Loads the library and checks its ABI version. Optional (the first call loads it too),
        /// but gives a clear BolinkException instead of a DllNotFoundException deep in the code.
        /// </summary>
        public static void CheckLibrary()
        {
            uint version;
            try
            {
                version = Native.bolink_abi_version();
            }
            catch (DllNotFoundException e)
            {
                throw new BolinkException(
                    "the bolink library was not found (bolink.dll on Windows, libbolink.so on " +
                    "Linux): put it next to the program or on PATH / LD_LIBRARY_PATH", e);
            }
            catch (EntryPointNotFoundException e)
            {
                throw new BolinkException(
                    "the library found as \"bolink\" is not bolink (no bolink_abi_version)", e);
            }
            catch (BadImageFormatException e)
            {
                throw new BolinkException(
                    "the bolink library does not match this process (x86 vs x64)", e);
            }
            if (version < RequiredAbiVersion)
            {
                throw new BolinkException(
                    "the bolink library is too old: ABI " + version + ", these bindings need " +
                    RequiredAbiVersion + " or later (" + Version + ")", null);
            }
        }

        /// <summary>
        /// The library's version text, e.g. "bolink 0.1.0 (x86_64-pc-windows-msvc)".
        /// </summary>
        public static string Version
        {
            get { return Utf8.Read(Native.bolink_version()); }
        }

        /// <summary>The library's ABI version (bolink_abi_version).</summary>
        public static uint AbiVersion
        {
            get { return Native.bolink_abi_version(); }
        }

        /// <summary>
        /// Starts the SDK with the vendor's init JSON (plus bolink's own fields) and connects in
        /// the background. A second Init before UnInit answers "sdk has been initialized!".
        /// </summary>
        public static string Init(string json)
        {
            return Utf8.Take(Native.bolink_init(Utf8.Bytes(json)));
        }

        /// <summary>Stops the SDK. Refused from inside the receive handler.</summary>
        public static string UnInit()
        {
            return Utf8.Take(Native.bolink_uninit());
        }

        /// <summary>2.1: a vehicle entered. Committed to the outbox and answered at once.</summary>
        public static string UploadInParkOrder(string json)
        {
            return Utf8.Take(Native.bolink_upload_in_park_order(Utf8.Bytes(json)));
        }

        /// <summary>2.2: a vehicle left. Committed to the outbox and answered at once.</summary>
        public static string UploadOutParkOrder(string json)
        {
            return Utf8.Take(Native.bolink_upload_out_park_order(Utf8.Bytes(json)));
        }

        /// <summary>4.1: password-free payment status of a plate, and the link state.</summary>
        public static string GetPayStatus(string json)
        {
            return Utf8.Take(Native.bolink_get_pay_status(Utf8.Bytes(json)));
        }

        /// <summary>
        /// Every other upstream message, and every reply to a downstream message.
        /// </summary>
        public static string UploadData(string json)
        {
            return Utf8.Take(Native.bolink_upload_data(Utf8.Bytes(json)));
        }

        /// <summary>As UploadData, but waits up to timeoutMs for the server's answer.</summary>
        public static string UploadDataSync(string json, uint timeoutMs)
        {
            return Utf8.Take(Native.bolink_upload_data_sync(Utf8.Bytes(json), timeoutMs));
        }

        /// <summary>The SDK's state: links, outbox (pending, rejected), waiting messages.</summary>
        public static string Status()
        {
            return Utf8.Take(Native.bolink_status());
        }

        /// <summary>
        /// Takes the next downstream message when no handler is set, waiting up to timeoutMs
        /// (0: do not wait). Returns null when there is none.
        /// </summary>
        public static string PollMessage(uint timeoutMs)
        {
            return Utf8.Take(Native.bolink_poll_message(timeoutMs));
        }

        /// <summary>
        /// Raised when the receive handler throws. Runs on the SDK's dispatcher thread; an
        /// exception thrown by a subscriber is swallowed.
        /// </summary>
        public static event HandlerFailedHandler HandlerFailed;

        /// <summary>
        /// Sets the receiver of downstream messages, replacing any earlier one; null switches
        /// back to PollMessage. The handler is kept alive by the library until its last call has
        /// returned, then released. It may call any method here except UnInit.
        /// </summary>
        public static void SetReceiveHandler(ReceiveHandler handler)
        {
            if (handler == null)
            {
                Native.bolink_set_receive_callback(null, IntPtr.Zero, null);
                return;
            }
            // The library owns the handle from here on and frees it through ReleaseTrampoline.
            GCHandle handle = GCHandle.Alloc(handler);
            Native.bolink_set_receive_callback(
                ReceiveTrampoline, GCHandle.ToIntPtr(handle), ReleaseTrampoline);
        }

        // Held in static fields so the runtime never collects the delegates native code calls.
        private static readonly Native.ReceiveFn ReceiveTrampoline = OnReceive;
        private static readonly Native.UserDataFreeFn ReleaseTrampoline = OnRelease;

        private static void OnReceive(IntPtr userData, IntPtr json)
        {
            string message = null;
            try
            {
                message = Utf8.Read(json);
                ReceiveHandler handler = (ReceiveHandler)GCHandle.FromIntPtr(userData).Target;
                handler(message);
            }
            catch (Exception e)
            {
                ReportFailure(e, message);
            }
        }

        private static void ReportFailure(Exception error, string message)
        {
            try
            {
                HandlerFailedHandler listeners = HandlerFailed;
                if (listeners != null)
                {
                    listeners(error, message);
                }
                else
                {
                    Console.Error.WriteLine(
                        "bolink: the receive handler threw on " + message + ": " + error);
                }
            }
            catch
            {
                // Nothing may unwind into the SDK's thread; the message counts as handed over.
            }
        }

        private static void OnRelease(IntPtr userData)
        {
            try
            {
                GCHandle.FromIntPtr(userData).Free();
            }
            catch
            {
                // Freeing a handle cannot fail unless it was freed already; never unwind.
            }
        }
    }

    /// <summary>UTF-8 conversions done by hand, so no marshaller guesses the encoding.</summary>
    internal static class Utf8
    {
        /// <summary>
        /// NUL-terminated UTF-8 bytes of text; null stays null (the library answers NULL_ARGUMENT).
        /// </summary>
        internal static byte[] Bytes(string text)
        {
            if (text == null)
            {
                return null;
            }
            int length = Encoding.UTF8.GetByteCount(text);
            byte[] bytes = new byte[length + 1];
            Encoding.UTF8.GetBytes(text, 0, text.Length, bytes, 0);
            return bytes;
        }

        /// <summary>Decodes a NUL-terminated UTF-8 string the library still owns.</summary>
        internal static string Read(IntPtr text)
        {
            if (text == IntPtr.Zero)
            {
                return null;
            }
            int length = 0;
            while (Marshal.ReadByte(text, length) != 0)
            {
                length++;
            }
            byte[] bytes = new byte[length];
            Marshal.Copy(text, bytes, 0, length);
            return Encoding.UTF8.GetString(bytes);
        }

        /// <summary>
        /// Decodes a string the caller owns, then frees it with bolink_free_string.
        /// </summary>
        internal static string Take(IntPtr text)
        {
            try
            {
                return Read(text);
            }
            finally
            {
                Native.bolink_free_string(text);
            }
        }
    }

    /// <summary>The C functions of bolink.h, all cdecl.</summary>
    internal static class Native
    {
        private const string Library = "bolink";

        [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
        internal delegate void ReceiveFn(IntPtr userData, IntPtr json);

        [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
        internal delegate void UserDataFreeFn(IntPtr userData);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern IntPtr bolink_init(byte[] configJson);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern IntPtr bolink_uninit();

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern IntPtr bolink_upload_in_park_order(byte[] json);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern IntPtr bolink_upload_out_park_order(byte[] json);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern IntPtr bolink_get_pay_status(byte[] json);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern IntPtr bolink_upload_data(byte[] json);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern IntPtr bolink_upload_data_sync(byte[] json, uint timeoutMs);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern IntPtr bolink_status();

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern int bolink_set_receive_callback(
            ReceiveFn callback, IntPtr userData, UserDataFreeFn userDataFree);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern IntPtr bolink_poll_message(uint timeoutMs);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern void bolink_free_string(IntPtr text);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern IntPtr bolink_version();

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern uint bolink_abi_version();
    }
}
