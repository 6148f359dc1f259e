/* x87 FPU instructions (D8-DF). SDM Vol. 1 chapter 8, Vol. 2 F* pages.
 * Currently the subset needed to probe and initialise an FPU. */
#include "cpu_internal.h"

/* ---- the x87 subset needed to probe and initialise an FPU ---- */
void op_x87(struct cpu *cpu, const struct insn *in) /* D8-DF */
{
    if (cpu->cr0 & (CR0_EM | CR0_TS))
        raise_exception_noerr(cpu, EXC_NM);
    int op = (in->modrm >> 3) & 7;
    if (in->opcode == 0xdb && in->modrm == 0xe3) { /* FNINIT */
        cpu->fpu.fcw = 0x37f;
        cpu->fpu.fsw = 0;
        cpu->fpu.ftw_abridged = 0;
        cpu->fpu.fip = cpu->fpu.fdp = 0;
        cpu->fpu.fop = 0;
        return;
    }
    if (in->opcode == 0xdb && in->modrm == 0xe2) { /* FNCLEX */
        cpu->fpu.fsw &= 0x7f00;
        return;
    }
    if (in->opcode == 0xdf && in->modrm == 0xe0) { /* FNSTSW AX */
        set_reg(cpu, R_RAX, 2, true, cpu->fpu.fsw);
        return;
    }
    if (in->mod != 3 && in->opcode == 0xd9 && op == 7) { /* FNSTCW m16 */
        seg_write(cpu, in->seg, insn_ea(cpu, in), 2, cpu->fpu.fcw);
        return;
    }
    if (in->mod != 3 && in->opcode == 0xd9 && op == 5) { /* FLDCW m16 */
        cpu->fpu.fcw = (uint16_t)seg_read(cpu, in->seg, insn_ea(cpu, in), 2);
        return;
    }
    if (in->mod != 3 && in->opcode == 0xdd && op == 7) { /* FNSTSW m16 */
        seg_write(cpu, in->seg, insn_ea(cpu, in), 2, cpu->fpu.fsw);
        return;
    }
    op_ud(cpu, in); /* x87 arithmetic is not implemented */
}

