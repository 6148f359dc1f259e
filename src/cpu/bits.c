/* Bit instructions (placeholder until implemented). */
#include "cpu_internal.h"

void register_ops_bits(insn_fn *t0, insn_fn *t1, insn_fn *t38, insn_fn *t3a)
{
}
