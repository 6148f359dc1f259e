/* Command-line parsing (testable: no exits, no printing). */
#ifndef NVMX_BOARD_OPTIONS_H
#define NVMX_BOARD_OPTIONS_H

#include <stddef.h>

#include "machine.h"

void options_defaults(struct machine_options *o);
/* Returns 0, or -1 with a message in err (the caller exits with status 2). */
int parse_options(int argc, char **argv, struct machine_options *o, char *err, size_t errlen);
int parse_size(const char *s, uint64_t *out);

#endif
