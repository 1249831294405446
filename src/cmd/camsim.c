#include <stdio.h>
#include "cmd/commands.h"
int vg_cmd_camsim(int argc, char **argv) { (void)argc; (void)argv; fprintf(stderr, "camsim: under construction\n"); return 1; }
