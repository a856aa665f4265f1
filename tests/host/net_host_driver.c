/* drivers/virtio/devices/net.c for net_host.c, unchanged, with its probe reachable by name. */
#include "../../drivers/virtio/devices/net.c"

int net_host_probe(struct virtio_device *vd);

int net_host_probe(struct virtio_device *vd)
{
	return vnet_probe(vd);
}
