/* GDT edits, the 64-bit TSS (SDM 8.7) and ring-3 entry. */
#include "guest.h"

struct tss64 tss ALIGNED(16);
uint8_t kstack0[KSTACK_SIZE] ALIGNED(16);
static uint8_t ist_stacks[7][4096] ALIGNED(16);
uint8_t user_stack[16384] USER_DATA ALIGNED(16);
struct ctx *ring3_cur;

uint64_t make_desc(uint32_t base, uint32_t limit, int type, int s, int dpl, int p, int flags)
{
    return (limit & 0xffffull) | ((uint64_t)(base & 0xffffff) << 16) |
           ((uint64_t)(type & 0xf) << 40) | ((uint64_t)(s & 1) << 44) |
           ((uint64_t)(dpl & 3) << 45) | ((uint64_t)(p & 1) << 47) |
           ((uint64_t)((limit >> 16) & 0xf) << 48) | ((uint64_t)(flags & 0xf) << 52) |
           ((uint64_t)(base >> 24) << 56);
}

void gdt_set(int index, uint64_t desc)
{
    gdt[index] = desc;
}

void gdt_set_system64(int index, uint64_t base, uint32_t limit, int type, int dpl)
{
    gdt[index] = make_desc((uint32_t)base, limit, type, 0, dpl, 1, 0);
    gdt[index + 1] = base >> 32;
}

void lgdt_reload(void)
{
    struct __attribute__((packed)) {
        uint16_t limit;
        uint64_t base;
    } p = {sizeof(uint64_t) * GDT_ENTRIES - 1, (uint64_t)gdt};
    __asm__ volatile("lgdt %0" ::"m"(p));
}

void tss_set_ist(int n, void *stack_top)
{
    tss.ist[n] = (uint64_t)stack_top;
}

void tss_set_rsp0(void *stack_top)
{
    tss.rsp[0] = (uint64_t)stack_top;
}

void tss_reload(void)
{
    gdt_set_system64(SEL_TSS >> 3, (uint64_t)&tss, sizeof(tss) - 1, 0x9, 0); /* available */
    __asm__ volatile("ltr %w0" ::"r"(SEL_TSS));
}

void desc_init(void)
{
    lgdt_reload();
    tss.rsp[0] = (uint64_t)(kstack0 + sizeof(kstack0));
    for (int i = 1; i <= 7; i++)
        tss.ist[i] = (uint64_t)(ist_stacks[i - 1] + sizeof(ist_stacks[0]));
    _Static_assert(sizeof(struct tss64) == 104, "64-bit TSS is 104 bytes (SDM figure 8-11)");
    tss.iomap_base = sizeof(tss); /* beyond the limit: no I/O bitmap, IN/OUT at CPL>IOPL #GP */
    tss_reload();
}

uint64_t ring3_enter(void *fn, uint64_t arg, uint64_t rsp, uint64_t cs, uint64_t ss, struct ctx *c);

uint64_t ring3_call_sel(uint64_t (*fn)(uint64_t), uint64_t arg, uint16_t cs, uint16_t ss)
{
    struct ctx c;
    struct ctx *prev = ring3_cur;
    ring3_cur = &c;
    uint64_t r =
        ring3_enter((void *)fn, arg, (uint64_t)(user_stack + sizeof(user_stack)), cs, ss, &c);
    ring3_cur = prev;
    return r;
}

uint64_t ring3_call(uint64_t (*fn)(uint64_t), uint64_t arg)
{
    return ring3_call_sel(fn, arg, SEL_UCODE64 | 3, SEL_UDATA | 3);
}
