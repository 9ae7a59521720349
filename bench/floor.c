/* The floor: the least a PID 1 can do. It starts /bin/sh once, then reaps every child
 * that exits, with SIGCHLD blocked and taken by sigwaitinfo (no handler, no other work).
 * Built by bench/bench.py; it is the measure of what the kernel itself costs. */
#include <errno.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void) {
    sigset_t set;
    sigfillset(&set);
    sigprocmask(SIG_BLOCK, &set, NULL);
    pid_t child = fork();
    if (child == 0) {
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        char *argv[] = {"sh", NULL};
        char *envp[] = {"PATH=/bin", NULL};
        execve("/bin/sh", argv, envp);
        _exit(127);
    }
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    for (;;) {
        siginfo_t info;
        if (sigwaitinfo(&chld, &info) < 0 && errno != EINTR)
            continue;
        while (waitpid(-1, NULL, WNOHANG) > 0) {
        }
    }
}
