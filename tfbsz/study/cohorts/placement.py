"""Where a cohort's arrays live: one device, or the trial axis sharded over several.

With several local devices, members are split over them (trial parallelism): every per-member
array (state, constants, per-update feeds, active flags) is sharded along its leading member
axis with a `jax.sharding.NamedSharding` over a one-axis mesh named ``"trials"``; the training
and held-out arrays are replicated. Members never exchange data, so XLA partitions the vmapped
program with no communication, and each member computes what it would compute on one device.
The member count is padded up to a multiple of the device count with inactive copies of the
first member.

Example:

>>> padded_size(5, 2), padded_size(4, 2), padded_size(3, 1)
(6, 4, 3)
"""

__all__ = ["Placement", "padded_size", "resolve_devices"]


def padded_size(members, devices):
    """The smallest multiple of `devices` that is >= `members`."""
    return -(-members // devices) * devices


def resolve_devices(devices):
    """`devices` as a list of JAX devices: None -> [], "all" -> every local device, an int n ->
    the first n local devices, or a list of devices as given."""
    import jax

    from tfbsz.core.errors import ConfigError

    if devices is None:
        return []
    local = jax.local_devices()
    if devices == "all":
        return list(local)
    if isinstance(devices, int) and not isinstance(devices, bool):
        if not 1 <= devices <= len(local):
            raise ConfigError(f"devices: expected 1 to {len(local)} local devices, got {devices}")
        return list(local[:devices])
    devices = list(devices)
    if not devices:
        raise ConfigError("devices: expected at least one device, got an empty list")
    return devices


class Placement:
    """Puts cohort arrays on one device (`devices` empty) or shards their member axis."""

    def __init__(self, devices=()):
        import jax
        import numpy as np
        from jax.sharding import Mesh, NamedSharding, PartitionSpec

        self.devices = list(devices)
        if len(self.devices) > 1:
            mesh = Mesh(np.array(self.devices), ("trials",))
            self._members = NamedSharding(mesh, PartitionSpec("trials"))
            self._replicated = NamedSharding(mesh, PartitionSpec())
        else:
            device = self.devices[0] if self.devices else None
            self._members = self._replicated = device
        self._put = jax.device_put

    @property
    def count(self):
        """How many devices the member axis spans (1 without sharding)."""
        return max(1, len(self.devices))

    def members(self, tree):
        """`tree`'s arrays (leading axis = members) on the devices, split by member."""
        return self._put(tree, self._members)

    def replicated(self, tree):
        """`tree`'s arrays on every device (or the one device)."""
        return self._put(tree, self._replicated)

    def describe(self):
        if len(self.devices) > 1:
            return f"trial axis sharded over {len(self.devices)} devices"
        return f"one device ({self.devices[0] if self.devices else 'default'})"
