/* A long-running L2 under an L1 that preempts it: L2 computes CRC-32 over
 * a buffer in rounds and prints each round's result on the serial port
 * itself (L1 does not intercept I/O, so L0's UART gets L2's writes), while
 * L1 arms vmcs12's VMX-preemption timer, counts the timer exits, and lets
 * L2 continue. Most of the run is spent in L2: tests/migrate-test.sh
 * snapshots it at many instants (guest mode, vmcs02 rebuilt on restore)
 * and checks the resumed run equals the uninterrupted one. */
#include "vmx.h"

static uint8_t buf[4096];

static void put(const char *s)
{
    while (*s)
        outb(0x3f8, (uint8_t)*s++);
}

static void l2_main(void)
{
    for (unsigned i = 0; i < sizeof(buf); i++)
        buf[i] = (uint8_t)(i * 7 + 3);
    uint32_t crc = 0xffffffffu;
    for (int round = 0; round < 12; round++) {
        for (unsigned i = 0; i < sizeof(buf); i++) {
            crc ^= buf[i];
            for (int k = 0; k < 8; k++)
                crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1)));
        }
        char line[32] = "  L2 round xx crc xxxxxxxx\n";
        line[11] = (char)('0' + round / 10);
        line[12] = (char)('0' + round % 10);
        for (int d = 0; d < 8; d++)
            line[18 + d] = "0123456789abcdef"[(crc >> (28 - 4 * d)) & 15];
        put(line);
    }
    __asm__ volatile("vmcall" ::"a"(crc));
    for (;;)
        ;
}

void guest_main(struct multiboot_info *mbi)
{
    (void)mbi;
    if (!vmx_start())
        return;
    vmx_setup_vmcs(l2_main);
    vmx_set_ctl(PIN_CTLS, 0x48d, PIN_PREEMPT);
    unsigned timer_exits = 0;
    bool ok = true;
    for (;;) {
        vmwrite(PREEMPT_TIMER, 20000);
        if (vmx_run() != VMX_OK) {
            ok = false;
            break;
        }
        uint64_t r = vmread(EXIT_REASON);
        if (r == 52) {
            timer_exits++;
            continue;
        }
        if (r != 18)
            ok = false;
        break;
    }
    CHECK(ok, "l2_finished");
    CHECK(timer_exits > 10, "preempted %u times", timer_exits);
    /* L1 computes the same CRC itself: L2's result must match */
    uint32_t crc = 0xffffffffu;
    for (int round = 0; round < 12; round++)
        for (unsigned i = 0; i < sizeof(buf); i++) {
            crc ^= (uint8_t)(i * 7 + 3);
            for (int k = 0; k < 8; k++)
                crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1)));
        }
    CHECK_EQ((uint32_t)vmx_l2_regs.rax, crc, "l2_crc_matches_l1");
    CHECK_EQ(vmxoff(), VMX_OK, "vmxoff");
}
