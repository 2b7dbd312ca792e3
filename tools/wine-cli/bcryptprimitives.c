/* A stand-in bcryptprimitives.dll for Wine 8 (Debian 12's), which lacks the DLL: Rust's
 * std on Windows takes its random numbers (HashMap seeds) from ProcessPrng there, so the
 * CLI would not even start. Test use only (tools/smoke-wine-cli.sh copies it into the
 * test prefix); Windows 10 and later, and Wine 9 and later, have the real one.
 * ProcessPrng fills the buffer from RtlGenRandom (advapi32's SystemFunction036). */
#include <windows.h>
BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);
BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len) {
    while (len) {
        ULONG n = len > 0x40000000 ? 0x40000000 : (ULONG)len;
        if (!SystemFunction036(data, n)) return FALSE;
        data += n;
        len -= n;
    }
    return TRUE;
}
