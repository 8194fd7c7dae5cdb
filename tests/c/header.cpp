// Proves include/bolink.h compiles as C++ with warnings as errors.
#include "bolink.h"

int main() {
    bolink_errcode code = BOLINK_ERRCODE_OK;
    return static_cast<int>(code) + static_cast<int>(bolink_abi_version() != BOLINK_ABI_VERSION);
}
