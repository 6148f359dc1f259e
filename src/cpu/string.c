/* String instructions (placeholder until implemented). */
#include "cpu_internal.h"

void register_ops_string(insn_fn *t0, insn_fn *t1)
{
}
