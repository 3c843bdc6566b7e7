/*
 * Holds a device the way a VM (QEMU) does, so tests can prove that the daemon never
 * rebinds a device in use: opens /dev/vfio/<group>, attaches it to a type1 container
 * and opens the device's fd. Prints "holding <group> <address>" once it holds both,
 * then sleeps until killed. Exit 1 with a message on any failure.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <linux/vfio.h>

static int fail(const char *what)
{
	fprintf(stderr, "vfio-hold: %s: %s\n", what, strerror(errno));
	return 1;
}

int main(int argc, char **argv)
{
	struct vfio_group_status gs = { .argsz = sizeof(gs) };
	int container, group, device;

	if (argc != 3) {
		fprintf(stderr, "usage: %s /dev/vfio/<group> <pci-address>\n", argv[0]);
		return 2;
	}
	container = open("/dev/vfio/vfio", O_RDWR);
	if (container < 0)
		return fail("open /dev/vfio/vfio");
	group = open(argv[1], O_RDWR);
	if (group < 0)
		return fail(argv[1]);
	if (ioctl(group, VFIO_GROUP_GET_STATUS, &gs) < 0)
		return fail("VFIO_GROUP_GET_STATUS");
	if (!(gs.flags & VFIO_GROUP_FLAGS_VIABLE)) {
		fprintf(stderr, "vfio-hold: %s is not viable\n", argv[1]);
		return 1;
	}
	if (ioctl(group, VFIO_GROUP_SET_CONTAINER, &container) < 0)
		return fail("VFIO_GROUP_SET_CONTAINER");
	if (ioctl(container, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU) < 0)
		return fail("VFIO_SET_IOMMU");
	device = ioctl(group, VFIO_GROUP_GET_DEVICE_FD, argv[2]);
	if (device < 0)
		return fail("VFIO_GROUP_GET_DEVICE_FD");
	printf("holding %s %s\n", argv[1], argv[2]);
	fflush(stdout);
	for (;;)
		pause();
}
