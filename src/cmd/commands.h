/* commands.h: the vigil subcommands, one file each. Each takes the
 * arguments after its own name (argv[0] is the subcommand) and returns the
 * process exit status. */
#ifndef VG_CMD_COMMANDS_H
#define VG_CMD_COMMANDS_H

int vg_cmd_run(int argc, char **argv);
int vg_cmd_camsim(int argc, char **argv);
int vg_cmd_version(int argc, char **argv);
int vg_cmd_infer(int argc, char **argv);
int vg_cmd_seal(int argc, char **argv);

#endif
