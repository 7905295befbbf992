/* Test tooling only, never shipped: Wine 8 lacks bcryptprimitives.dll, whose ProcessPrng Bun's Windows runtime imports.
 * This stand-in fills the buffer from RtlGenRandom (advapi32's SystemFunction036), which Wine implements. */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

/* BOOL WINAPI ProcessPrng(PBYTE pbData, SIZE_T cbData): documented to always succeed. RtlGenRandom takes a
 * ULONG length, so fill large requests in pieces. */
BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length) {
  while (length > 0) {
    ULONG piece = length > 0x40000000 ? 0x40000000 : (ULONG)length;
    if (!SystemFunction036(data, piece)) return FALSE;
    data += piece;
    length -= piece;
  }
  return TRUE;
}
