// SPDX-License-Identifier: GPL-2.0
/*
 * lab_vfio_pci: the smallest real VFIO variant driver, for the kernel lab only.
 *
 * It is what vendors ship (mlx5_vfio_pci, nvgrace_gpu_vfio_pci, ...) minus the vendor
 * features: a pci_driver on top of vfio_pci_core whose ID table is declared with
 * PCI_DRIVER_OVERRIDE_DEVICE_VFIO, so the build emits a "vfio_pci:" modules.alias line
 * and the driver binds only through driver_override. Module name lab_vfio_pci, driver
 * name lab-vfio-pci: the daemon must not confuse the two.
 * Target: QEMU's "edu" device (1234:11e8).
 */
#include <linux/module.h>
#include <linux/pci.h>
#include <linux/vfio.h>
#include <linux/vfio_pci_core.h>

static int lab_vfio_pci_open_device(struct vfio_device *core_vdev)
{
	struct vfio_pci_core_device *vdev =
		container_of(core_vdev, struct vfio_pci_core_device, vdev);
	int ret;

	ret = vfio_pci_core_enable(vdev);
	if (ret)
		return ret;
	vfio_pci_core_finish_enable(vdev);
	return 0;
}

static const struct vfio_device_ops lab_vfio_pci_ops = {
	.name		= "lab-vfio-pci",
	.init		= vfio_pci_core_init_dev,
	.release	= vfio_pci_core_release_dev,
	.open_device	= lab_vfio_pci_open_device,
	.close_device	= vfio_pci_core_close_device,
	.ioctl		= vfio_pci_core_ioctl,
	.device_feature	= vfio_pci_core_ioctl_feature,
	.read		= vfio_pci_core_read,
	.write		= vfio_pci_core_write,
	.mmap		= vfio_pci_core_mmap,
	.request	= vfio_pci_core_request,
	.match		= vfio_pci_core_match,
	.bind_iommufd	= vfio_iommufd_physical_bind,
	.unbind_iommufd	= vfio_iommufd_physical_unbind,
	.attach_ioas	= vfio_iommufd_physical_attach_ioas,
	.detach_ioas	= vfio_iommufd_physical_detach_ioas,
};

static int lab_vfio_pci_probe(struct pci_dev *pdev, const struct pci_device_id *id)
{
	struct vfio_pci_core_device *vdev;
	int ret;

	vdev = vfio_alloc_device(vfio_pci_core_device, vdev, &pdev->dev,
				 &lab_vfio_pci_ops);
	if (IS_ERR(vdev))
		return PTR_ERR(vdev);

	dev_set_drvdata(&pdev->dev, vdev);
	ret = vfio_pci_core_register_device(vdev);
	if (ret) {
		vfio_put_device(&vdev->vdev);
		return ret;
	}
	return 0;
}

static void lab_vfio_pci_remove(struct pci_dev *pdev)
{
	struct vfio_pci_core_device *vdev = dev_get_drvdata(&pdev->dev);

	vfio_pci_core_unregister_device(vdev);
	vfio_put_device(&vdev->vdev);
}

static const struct pci_device_id lab_vfio_pci_table[] = {
	{ PCI_DRIVER_OVERRIDE_DEVICE_VFIO(0x1234, 0x11e8) },	/* QEMU edu */
	{}
};
MODULE_DEVICE_TABLE(pci, lab_vfio_pci_table);

static struct pci_driver lab_vfio_pci_driver = {
	.name			= "lab-vfio-pci",
	.id_table		= lab_vfio_pci_table,
	.probe			= lab_vfio_pci_probe,
	.remove			= lab_vfio_pci_remove,
	.err_handler		= &vfio_pci_core_err_handlers,
	.driver_managed_dma	= true,
};
module_pci_driver(lab_vfio_pci_driver);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("Test VFIO variant driver for QEMU's edu device (vfio-passthrough kernel lab)");
