/* launch ROOT OUT PROGRAM ARGV0 [ARG...]: chroot into ROOT, note in OUT the monotonic time
 * (ns) and the CPU time this process has used so far (/proc/self/schedstat), and exec
 * PROGRAM as PID 1 with ARGV0 and the arguments. What follows is the start-up of the PID 1
 * under test until its first child runs (bench/stamp.c), and its own CPU time. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: launch ROOT OUT PROGRAM ARGV0 [ARG...]\n");
        return 2;
    }
    if (chroot(argv[1]) != 0 || chdir("/") != 0) {
        perror("chroot");
        return 1;
    }
    FILE *f = fopen(argv[2], "w");
    if (!f) {
        perror(argv[2]);
        return 1;
    }
    /* This process's CPU so far: PID 1's own CPU starts from here. */
    long long cpu = 0;
    FILE *s = fopen("/proc/self/schedstat", "r");
    if (s) {
        if (fscanf(s, "%lld", &cpu) != 1)
            cpu = 0;
        fclose(s);
    }
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    fprintf(f, "%lld %lld\n", (long long)t.tv_sec * 1000000000LL + t.tv_nsec, cpu);
    fclose(f);
    char *envp[] = {"PATH=/bin:/sbin", "TERM=dumb", NULL};
    char *program = argv[3];
    char **args = argv + 4; /* ARGV0 [ARG...], NULL-terminated as argv is */
    execve(program, args, envp);
    perror(program);
    return 127;
}
