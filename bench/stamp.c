/* The first child of every PID 1 under test, installed as /bin/sh of the bench root (so
 * reinit's /etc/rc, busybox's sysinit, tini's and catatonit's command are all this program).
 *
 * At start it notes the monotonic time and PID 1's CPU time so far (/proc/1/schedstat) in
 * /bench/out/stamp. Then it does what /bench/mode says:
 *   idle                 stay alive (tini and catatonit exit with their child)
 *   serial N [multi]     N orphans one at a time: a child forks a grandchild and exits;
 *                        the grandchild exits at once; PID 1 reaps it
 *   burst N [multi]      N orphans alive at once, blocked on a pipe, released together
 * With "multi" the storm runs from a background copy and this process exits first (reinit
 * leaves runcom for multi-user, busybox init ends sysinit). A storm starts when /bench/go
 * exists; its figures go to /bench/out/storm, then the process stays alive. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static long long pid1_cpu_ns(void) {
    long long ns = -1;
    FILE *f = fopen("/proc/1/schedstat", "r");
    if (f) {
        if (fscanf(f, "%lld", &ns) != 1)
            ns = -1;
        fclose(f);
    }
    return ns;
}

/* Processes other than PID 1 and this one; zombies among them in *zombies. */
static int others(int *zombies) {
    int n = 0, z = 0;
    pid_t me = getpid();
    DIR *d = opendir("/proc");
    if (!d)
        return -1;
    struct dirent *e;
    while ((e = readdir(d))) {
        int pid = atoi(e->d_name);
        if (pid <= 1 || pid == me)
            continue;
        n++;
        if (zombies) {
            char path[64], buf[512];
            snprintf(path, sizeof path, "/proc/%d/stat", pid);
            FILE *f = fopen(path, "r");
            if (f) {
                size_t len = fread(buf, 1, sizeof buf - 1, f);
                buf[len] = 0;
                char *p = strrchr(buf, ')');
                if (p && p[1] == ' ' && p[2] == 'Z')
                    z++;
                fclose(f);
            }
        }
    }
    closedir(d);
    if (zombies)
        *zombies = z;
    return n;
}

static void stay(void) {
    for (;;)
        pause();
}

int main(void) {
    long long t1 = now_ns(), cpu = pid1_cpu_ns();
    FILE *f = fopen("/bench/out/stamp", "w");
    if (f) {
        fprintf(f, "%lld %lld\n", t1, cpu);
        fclose(f);
    }
    char kind[16] = "idle", multi[16] = "";
    long n = 0;
    f = fopen("/bench/mode", "r");
    if (f) {
        if (fscanf(f, "%15s %ld %15s", kind, &n, multi) < 1)
            strcpy(kind, "idle");
        fclose(f);
    }
    if (strcmp(kind, "idle") == 0)
        stay();
    if (strcmp(multi, "multi") == 0) {
        pid_t bg = fork();
        if (bg != 0)
            return 0; /* the first child ends: PID 1 moves on */
        setsid();
    }
    while (access("/bench/go", F_OK) != 0)
        usleep(2000);
    long long cpu0 = pid1_cpu_ns(), start = now_ns();
    int fds[2];
    int burst = strcmp(kind, "burst") == 0;
    if (burst && pipe(fds) != 0)
        return 1;
    for (long i = 0; i < n; i++) {
        pid_t c = fork();
        if (c < 0) {
            usleep(1000);
            i--;
            continue;
        }
        if (c == 0) {
            if (fork() == 0) {
                if (burst) {
                    char b;
                    close(fds[1]);
                    while (read(fds[0], &b, 1) > 0) {
                    }
                }
                _exit(0);
            }
            _exit(0);
        }
        waitpid(c, NULL, 0);
    }
    if (burst)
        close(fds[1]);
    long long released = now_ns();
    while (others(NULL) > 0)
        usleep(500);
    long long drained = now_ns(), cpu1 = pid1_cpu_ns();
    while (now_ns() < released + 2000000000LL)
        usleep(10000);
    int zombies = 0, left = others(&zombies);
    f = fopen("/bench/out/storm.new", "w");
    if (f) {
        fprintf(f,
                "orphans %ld\nstorm_ns %lld\ndrain_ns %lld\npid1_cpu_ns %lld\n"
                "left_2s %d\nzombies_2s %d\n",
                n, released - start, drained - released, cpu1 - cpu0, left, zombies);
        fclose(f);
        rename("/bench/out/storm.new", "/bench/out/storm");
    }
    stay();
}
