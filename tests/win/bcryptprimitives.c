/*
 * A stand-in for Windows' bcryptprimitives.dll, for the Wine tests only.
 *
 * The Rust standard library asks bcryptprimitives.dll for ProcessPrng (Windows 10 and later);
 * Wine 8 has no such DLL, so a test program placed beside this one would not even load.
 * This DLL answers ProcessPrng with advapi32's RtlGenRandom (SystemFunction036), which Wine
 * has. It is built into the test directory only and is never shipped with bolink.dll.
 */
#include <windows.h>

/* RtlGenRandom's real name; the Windows SDK declares it only under that alias. */
BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

/* Fills `data` with `length` random bytes. Like the real one, it always returns TRUE: on
 * Windows ProcessPrng cannot fail, and the standard library treats FALSE as fatal. */
BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length)
{
    /* RtlGenRandom takes a ULONG length; SIZE_T is wider on x64, so fill in pieces. */
    while (length > 0) {
        ULONG piece = length > 0x10000000 ? 0x10000000 : (ULONG)length;
        if (!SystemFunction036(data, piece)) {
            return FALSE;
        }
        data += piece;
        length -= piece;
    }
    return TRUE;
}
