/*
 * The kernel's own verdict on IOMMU groups: for each /dev/vfio/<N> given, print
 *   <N> viable | <N> not-viable | <N> error <errno-text>
 * using the VFIO_GROUP_FLAGS_VIABLE bit of VFIO_GROUP_GET_STATUS. Exit 0 when every
 * group could be asked (whatever the answer), 1 otherwise.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <linux/vfio.h>

int main(int argc, char **argv)
{
	int status = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: %s /dev/vfio/<group>...\n", argv[0]);
		return 2;
	}
	for (int i = 1; i < argc; i++) {
		const char *name = strrchr(argv[i], '/') ? strrchr(argv[i], '/') + 1 : argv[i];
		struct vfio_group_status gs = { .argsz = sizeof(gs) };
		int fd = open(argv[i], O_RDWR);

		if (fd < 0 || ioctl(fd, VFIO_GROUP_GET_STATUS, &gs) < 0) {
			printf("%s error %s\n", name, strerror(errno));
			status = 1;
		} else {
			printf("%s %s\n", name,
			       (gs.flags & VFIO_GROUP_FLAGS_VIABLE) ? "viable" : "not-viable");
		}
		if (fd >= 0)
			close(fd);
	}
	return status;
}
