/* membarrier(2) as JITs use it (wasmtime on aarch64, V8, the JVM): the
 * commands a query reports, the EPERM of an unregistered private expedited
 * barrier, registration, and the barriers themselves. */
#include <errno.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>

/* <linux/membarrier.h> (musl-gcc has no kernel headers). */
#define MEMBARRIER_CMD_QUERY 0
#define MEMBARRIER_CMD_PRIVATE_EXPEDITED (1 << 3)
#define MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED (1 << 4)
#define MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE (1 << 5)
#define MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE (1 << 6)

#include "abi_check.h"

static long membarrier(int cmd, unsigned flags)
{
    return syscall(SYS_membarrier, cmd, flags, 0);
}

int main(void)
{
    long mask = ok(membarrier(MEMBARRIER_CMD_QUERY, 0), "query");
    long wanted = MEMBARRIER_CMD_PRIVATE_EXPEDITED | MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED |
                  MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE |
                  MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE;
    check(mask >= 0 && (mask & wanted) == wanted, "query reports the private expedited commands");
    err(membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0), EPERM, "private expedited, unregistered");
    err(membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE, 0), EPERM,
        "sync core, unregistered");
    ok(membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0), "register private expedited");
    ok(membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0), "private expedited");
    err(membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE, 0), EPERM,
        "sync core, still unregistered");
    ok(membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE, 0), "register sync core");
    ok(membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE, 0), "sync core");
    err(membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED, 1u << 3), EINVAL, "unknown flag");
    err(membarrier(1 << 20, 0), EINVAL, "unknown command");
    return finish();
}
