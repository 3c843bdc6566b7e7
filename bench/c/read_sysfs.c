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
 * --rescan: only what a scanner that scans again reads. SysfsScanner keeps what sysfs fixes for a device's
 * life (ids, class, NUMA node, the IOMMU group and its members, ...) while the device's bus link is the
 * same one, so per device it makes: an lstat of the bus link (is it the same link?), then, through the
 * directory's real path that the first scan found, the readlink of driver (for a device that had no driver:
 * an access of driver and, when there is none, of the directory), an access of vfio-dev/<the name it had>
 * where it had one, and sriov_numvfs where the device is a PF. Host-wide it reads osrelease, stats
 * modules.alias, lists sys/kernel/iommu_groups (not each group), dev/vfio, dev/vfio/devices and
 * sys/module/vfio_pci/drivers, and per driver its module link and its directory. This program keeps the
 * same per-device table from its first scan as the scanner does.
 * Host-wide, first scan: proc/sys/kernel/osrelease, lib/modules/<release>/modules.alias read whole and scanned for
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

/* Lists a directory; when first is not NULL, its first entry goes there (empty when none): the one vfioN of
 * vfio-dev/. */
static int list_dir(const char *path, char *first, size_t size) {
    if (first)
        first[0] = 0;
    DIR *d = opendir(path);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        sink += e->d_name[0];
        if (first && !first[0])
            snprintf(first, size, "%s", e->d_name);
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

/* What the first scan learnt of each device, as SysfsScanner keeps it. */
struct known {
    char name[64];
    char real[PATH_MAX];
    char vfio_dev[32];
    int is_pf;
    int has_driver;
};
static struct known *table;
static int table_size, table_capacity;

static struct known *remember(const char *name, const char *real) {
    if (table_size == table_capacity) {
        table_capacity = table_capacity ? table_capacity * 2 : 1024;
        table = realloc(table, sizeof *table * table_capacity);
    }
    struct known *k = &table[table_size++];
    snprintf(k->name, sizeof k->name, "%s", name);
    snprintf(k->real, sizeof k->real, "%s", real);
    k->vfio_dev[0] = 0;
    k->is_pf = 0;
    k->has_driver = 0;
    return k;
}

static struct known *lookup(const char *name, int hint) {
    if (hint < table_size && strcmp(table[hint].name, name) == 0)
        return &table[hint];
    for (int i = 0; i < table_size; i++)
        if (strcmp(table[i].name, name) == 0)
            return &table[i];
    return NULL;
}

static void driver_once(const char *root, const char *link_target, char seen[][64], int *nseen) {
    const char *name = strrchr(link_target, '/');
    name = name ? name + 1 : link_target;
    for (int i = 0; i < *nseen; i++)
        if (strcmp(seen[i], name) == 0)
            return;
    if (*nseen < 64)
        snprintf(seen[(*nseen)++], 64, "%s", name);
    char path[PATH_MAX + 64];
    struct stat st;
    snprintf(path, sizeof path, "%s/sys/bus/pci/drivers/%s", root, name);
    if (stat(path, &st) == 0)
        sink++;
    snprintf(path, sizeof path, "%s/sys/bus/pci/drivers/%s/module", root, name);
    read_link(path);
}

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
    if (rescan_only) {
        list_dir(path, NULL, 0);
    }
    DIR *groups = rescan_only ? NULL : opendir(path);
    if (groups) {
        struct dirent *g;
        while ((g = readdir(groups)) != NULL) {
            if (g->d_name[0] == '.')
                continue;
            snprintf(path, sizeof path, "%s/sys/kernel/iommu_groups/%s/devices", root, g->d_name);
            list_dir(path, NULL, 0);
        }
        closedir(groups);
    }
    snprintf(path, sizeof path, "%s/dev/vfio", root);
    list_dir(path, NULL, 0);
    snprintf(path, sizeof path, "%s/dev/vfio/devices", root);
    list_dir(path, NULL, 0);

    char devices[PATH_MAX];
    snprintf(devices, sizeof devices, "%s/sys/bus/pci/devices", root);
    DIR *dir = opendir(devices);
    if (!dir)
        return -1;
    struct dirent *e;
    int index = 0, drivers = 0;
    char drivers_seen[64][64];
    if (!rescan_only)
        table_size = 0;
    while ((e = readdir(dir)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char dev[PATH_MAX + 300], real[PATH_MAX];
        snprintf(dev, sizeof dev, "%s/%s", devices, e->d_name);
        struct stat st;
        if (rescan_only) {
            struct known *k = lookup(e->d_name, index++);
            if (!k || lstat(dev, &st) != 0)
                continue;
            char target[PATH_MAX];
            snprintf(path, sizeof path, "%s/driver", k->real);
            if (k->has_driver) {
                ssize_t n = readlink(path, target, sizeof target - 1);
                if (n > 0) {
                    target[n] = 0;
                    driver_once(root, target, drivers_seen, &drivers);
                } else if (stat(k->real, &st) != 0) {
                    continue;
                }
            } else if (access(path, F_OK) != 0 && access(k->real, F_OK) != 0) {
                continue;
            }
            if (k->vfio_dev[0]) {
                snprintf(path, sizeof path, "%s/vfio-dev/%s", k->real, k->vfio_dev);
                if (access(path, F_OK) == 0)
                    sink++;
            }
            if (k->is_pf) {
                snprintf(path, sizeof path, "%s/sriov_numvfs", k->real);
                read_small(path, buf, sizeof buf);
            }
            count++;
            continue;
        }
        if (!realpath(dev, real))
            continue;
        struct known *k = remember(e->d_name, real);
        for (size_t i = 0; i < sizeof attributes / sizeof *attributes; i++) {
            snprintf(path, sizeof path, "%s/%s", dev, attributes[i]);
            read_small(path, buf, sizeof buf);
        }
        snprintf(path, sizeof path, "%s/sriov_totalvfs", dev);
        if (read_small(path, buf, sizeof buf) > 0 && atoi(buf) > 0) {
            k->is_pf = 1;
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
            k->has_driver = 1;
        snprintf(path, sizeof path, "%s/physfn", dev);
        read_link(path);
        snprintf(path, sizeof path, "%s/iommu_group", dev);
        read_link(path);
        snprintf(path, sizeof path, "%s/vfio-dev", dev);
        list_dir(path, k->vfio_dev, sizeof k->vfio_dev);
        if (stat(dev, &st) == 0)
            count++;
    }
    closedir(dir);

    snprintf(path, sizeof path, "%s/sys/module/vfio_pci/drivers", root);
    list_dir(path, NULL, 0);
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
    int rescans = rescan_only;
    rescan_only = 0;
    int count = scan(argv[1]); /* warm-up, and the first scan a rescan builds on: the page cache is warm for the daemon too */
    rescan_only = rescans;
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
