"""Damage that checksums cannot see: a store's manifest or tables changed and the manifest made to agree."""
import io
import json

from optsuite.store import MANIFEST, sha256


def edit_manifest(path, edit):
    """Change the manifest as a hand (or a tool) would: ``edit(its JSON object)``."""
    manifest = json.loads((path / MANIFEST).read_text())
    edit(manifest)
    (path / MANIFEST).write_text(json.dumps(manifest))


def rewrite(path, name, frame):
    """Replace table ``name`` of the store at ``path`` by ``frame`` and list it in the manifest."""
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    (path / name).write_bytes(buffer.getvalue())
    edit_manifest(path, lambda m: m["files"].update({name: [{"sha256": sha256(buffer.getvalue()), "rows": len(frame)}]}))
