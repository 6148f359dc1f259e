/* SSE/SSE2 (placeholder until implemented). */
#include "cpu_internal.h"

void register_ops_sse(insn_fn *t1, insn_fn *t38, insn_fn *t3a)
{
}
