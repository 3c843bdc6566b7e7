/*
 * The floor for a scan: a minimal C program that makes the same file system calls SysfsScanner makes
 * on a host root, and nothing else (no parsing beyond what is needed to know which file comes next,
 * no objects, no viability). bench/run builds it with the machine's gcc and compares.
 *
 *   read_sysfs ROOT [ITERATIONS] [--rescan]
 *                                  prints the device count, then min / median / mean wall-clock ms per scan
 *                                  and the mean CPU ms (user + system) per scan, which a loaded machine
 *                                  disturbs less than the wall clock
 *
 * Per device (sys/bus/pci/devices/<addr>): realpath of the link; read vendor, device, subsystem_vendor,
 * subsystem_device, class, modalias, numa_node, driver_override, boot_vga, sriov_totalvfs (and
 * sriov_numvfs + the virtfnN links when it is > 0); the first 15 bytes of config; readlink driver and
 * stat it; readlink physfn and iommu_group; list vfio-dev; stat the directory at the end.
 * --rescan: only what a scanner that scans again reads (SysfsScanner keeps each device's fixed facts while
 * its directory is the same one): per device readlink of the bus link and stat of the directory, the
 * driver link (readlink + stat), driver_override, sriov_numvfs and the virtfnN links where it exists,
 * vfio-dev, iommu_group, a final stat; host-wide the same listings, and a stat of modules.alias instead
 * of reading it.
 * Host-wide: proc/sys/kernel/osrelease, lib/modules/<release>/modules.alias read whole and scanned for
 * "alias vfio_pci:" lines, sys/kernel/iommu_groups/<id>/devices listed, dev/vfio and dev/vfio/devices
 * listed, sys/module/<module>/drivers of vfio_pci listed.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static long sink; /* keeps the compiler from dropping reads */

static int read_small(const char *path, char *buf, size_t size) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, size - 1);
    close(fd);
    if (n < 0)
        return -1;
    buf[n] = 0;
    sink += n;
    return (int)n;
}

static int list_dir(const char *path) {
    DIR *d = opendir(path);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        sink += e->d_name[0];
        n++;
    }
    closedir(d);
    return n;
}

static void read_link(const char *path) {
    char target[PATH_MAX];
    ssize_t n = readlink(path, target, sizeof target - 1);
    if (n > 0)
        sink += target[n - 1];
}

static int rescan_only;

static int scan(const char *root) {
    char path[PATH_MAX + 64], buf[4097];
    static const char *attributes[] = {"vendor", "device", "subsystem_vendor", "subsystem_device", "class",
                                       "modalias", "numa_node", "driver_override", "boot_vga"};
    int count = 0;

    snprintf(path, sizeof path, "%s/proc/sys/kernel/osrelease", root);
    char release[256] = "";
    if (read_small(path, release, sizeof release) > 0)
        release[strcspn(release, "\n")] = 0;
    snprintf(path, sizeof path, "%s/lib/modules/%s/modules.alias", root, release);
    int fd = -1;
    if (rescan_only) {
        struct stat st;
        if (stat(path, &st) == 0)
            sink += st.st_size;
    } else {
        fd = open(path, O_RDONLY | O_CLOEXEC);
    }
    if (fd >= 0) {
        struct stat st;
        fstat(fd, &st);
        char *text = malloc(st.st_size + 1);
        ssize_t got = read(fd, text, st.st_size);
        close(fd);
        text[got > 0 ? got : 0] = 0;
        for (char *line = text; line && *line;) {
            if (strncmp(line, "alias vfio_pci:", 15) == 0)
                sink++;
            line = strchr(line, '\n');
            if (line)
                line++;
        }
        free(text);
    }

    snprintf(path, sizeof path, "%s/sys/kernel/iommu_groups", root);
    DIR *groups = opendir(path);
    if (groups) {
        struct dirent *g;
        while ((g = readdir(groups)) != NULL) {
            if (g->d_name[0] == '.')
                continue;
            snprintf(path, sizeof path, "%s/sys/kernel/iommu_groups/%s/devices", root, g->d_name);
            list_dir(path);
        }
        closedir(groups);
    }
    snprintf(path, sizeof path, "%s/dev/vfio", root);
    list_dir(path);
    snprintf(path, sizeof path, "%s/dev/vfio/devices", root);
    list_dir(path);

    char devices[PATH_MAX];
    snprintf(devices, sizeof devices, "%s/sys/bus/pci/devices", root);
    DIR *dir = opendir(devices);
    if (!dir)
        return -1;
    struct dirent *e;
    while ((e = readdir(dir)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char dev[PATH_MAX + 300], real[PATH_MAX];
        snprintf(dev, sizeof dev, "%s/%s", devices, e->d_name);
        struct stat st;
        if (rescan_only) {
            read_link(dev);
            if (stat(dev, &st) != 0)
                continue;
            snprintf(path, sizeof path, "%s/driver", dev);
            read_link(path);
            if (stat(path, &st) == 0)
                sink++;
            snprintf(path, sizeof path, "%s/driver_override", dev);
            read_small(path, buf, sizeof buf);
            snprintf(path, sizeof path, "%s/sriov_numvfs", dev);
            int numvfs = read_small(path, buf, sizeof buf) > 0 ? atoi(buf) : 0;
            for (int i = 0; i < numvfs; i++) {
                snprintf(path, sizeof path, "%s/virtfn%d", dev, i);
                read_link(path);
            }
            snprintf(path, sizeof path, "%s/vfio-dev", dev);
            list_dir(path);
            snprintf(path, sizeof path, "%s/iommu_group", dev);
            read_link(path);
            if (stat(dev, &st) == 0)
                count++;
            continue;
        }
        if (!realpath(dev, real))
            continue;
        for (size_t i = 0; i < sizeof attributes / sizeof *attributes; i++) {
            snprintf(path, sizeof path, "%s/%s", dev, attributes[i]);
            read_small(path, buf, sizeof buf);
        }
        snprintf(path, sizeof path, "%s/sriov_totalvfs", dev);
        if (read_small(path, buf, sizeof buf) > 0 && atoi(buf) > 0) {
            snprintf(path, sizeof path, "%s/sriov_numvfs", dev);
            int numvfs = read_small(path, buf, sizeof buf) > 0 ? atoi(buf) : 0;
            for (int i = 0; i < numvfs; i++) {
                snprintf(path, sizeof path, "%s/virtfn%d", dev, i);
                read_link(path);
            }
        }
        snprintf(path, sizeof path, "%s/config", dev);
        read_small(path, buf, 16);
        snprintf(path, sizeof path, "%s/driver", dev);
        read_link(path);
        if (stat(path, &st) == 0)
            sink++;
        snprintf(path, sizeof path, "%s/physfn", dev);
        read_link(path);
        snprintf(path, sizeof path, "%s/iommu_group", dev);
        read_link(path);
        snprintf(path, sizeof path, "%s/vfio-dev", dev);
        list_dir(path);
        if (stat(dev, &st) == 0)
            count++;
    }
    closedir(dir);

    snprintf(path, sizeof path, "%s/sys/module/vfio_pci/drivers", root);
    list_dir(path);
    return count;
}

static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s ROOT [ITERATIONS]\n", argv[0]);
        return 2;
    }
    int iterations = argc > 2 ? atoi(argv[2]) : 20;
    rescan_only = argc > 3 && strcmp(argv[3], "--rescan") == 0;
    if (iterations < 1)
        iterations = 1;
    double *ms = malloc(sizeof(double) * iterations);
    int count = scan(argv[1]); /* warm-up: the page cache is warm for the daemon too */
    if (count < 0) {
        fprintf(stderr, "%s: cannot list %s/sys/bus/pci/devices\n", argv[0], argv[1]);
        return 1;
    }
    double total = 0;
    struct timespec ca, cb;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ca);
    for (int i = 0; i < iterations; i++) {
        struct timespec a, b;
        clock_gettime(CLOCK_MONOTONIC, &a);
        scan(argv[1]);
        clock_gettime(CLOCK_MONOTONIC, &b);
        ms[i] = (b.tv_sec - a.tv_sec) * 1e3 + (b.tv_nsec - a.tv_nsec) / 1e6;
        total += ms[i];
    }
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cb);
    double cpu = ((cb.tv_sec - ca.tv_sec) * 1e3 + (cb.tv_nsec - ca.tv_nsec) / 1e6) / iterations;
    qsort(ms, iterations, sizeof *ms, by_value);
    printf("devices=%d iterations=%d min_ms=%.3f median_ms=%.3f mean_ms=%.3f mean_cpu_ms=%.3f\n", count,
           iterations, ms[0], ms[iterations / 2], total / iterations, cpu);
    if (sink == 42)
        fputc('\n', stderr);
    return 0;
}
