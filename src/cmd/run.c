#include <stdio.h>
#include "cmd/commands.h"
int vg_cmd_run(int argc, char **argv) { (void)argc; (void)argv; fprintf(stderr, "run: under construction\n"); return 1; }
