"""The seed's encryption rule, as a decision: which KMS key goes to the copy and which to the restore.

Seed: encrypting the new cluster with a chosen key "is available only for unencrypted DB snapshots".
An encrypted snapshot restores encrypted with its own key; asking for another key is an error, not
a silent re-encryption. KMS keys are regional, so a cross-region copy of an encrypted snapshot must
be re-encrypted with a key of the target region: there `kms_key_id` names that key, and the
restored cluster then keeps the copy's key, which is the same rule applied to the copy.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EncryptionPlan:
    copy_kms_key_id: str      # KmsKeyId for CopyDBSnapshot ("" = none)
    restore_kms_key_id: str   # KmsKeyId for RestoreDBClusterFromSnapshot ("" = none)
    encrypted_at_rest: bool
    problems: tuple[str, ...] = ()


def same_kms_key(a: str, b: str) -> bool:
    """Key ids, key ARNs and alias ARNs compared by their last path element (`key/ID`, `alias/NAME`)."""
    def tail(key: str) -> str:
        return key.rsplit(":", 1)[-1] if key.startswith("arn:") else key
    ta, tb = tail(a), tail(b)
    return ta == tb or ta.rsplit("/", 1)[-1] == tb.rsplit("/", 1)[-1]


def plan_encryption(*, snapshot_encrypted: bool, snapshot_kms_key_id: str, kms_key_id: str,
                    cross_region: bool, target_region: str) -> EncryptionPlan:
    kms_key_id = (kms_key_id or "").strip()
    if not snapshot_encrypted:
        # Unencrypted snapshot: the copy stays unencrypted; the restore encrypts when asked to.
        return EncryptionPlan("", kms_key_id, bool(kms_key_id))
    if cross_region:
        if not kms_key_id:
            return EncryptionPlan("", "", True, (
                f"the snapshot is encrypted (key {snapshot_kms_key_id}) and KMS keys are regional: copying it "
                f"to {target_region} needs kms_key_id set to a KMS key in {target_region}",))
        return EncryptionPlan(kms_key_id, "", True)
    if kms_key_id and not same_kms_key(kms_key_id, snapshot_kms_key_id):
        return EncryptionPlan("", "", True, (
            f"kms_key_id {kms_key_id!r} differs from the key the snapshot is encrypted with "
            f"({snapshot_kms_key_id}): an encrypted snapshot restores encrypted with its own key, and choosing "
            f"a key is only possible for an unencrypted snapshot; leave kms_key_id empty",))
    return EncryptionPlan("", "", True)
