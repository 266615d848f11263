"""Reusable blocks: save a block's file as its next version. A saved version never changes."""

from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Max

from playbooks import selectors
from playbooks.engine.blocks import Unavailable, expand_includes
from playbooks.engine.document import BLOCK_KEYS, PLAYBOOK_YAML, load_yaml, spec_from_document
from playbooks.engine.spec import PlaybookInvalid, PlaybookSpec, SpecError
from playbooks.engine.validation import validate_spec
from playbooks.models import Block, BlockVersion
from playbooks.services.versions import declared_module_write


@dataclass(frozen=True)
class BlockSaveResult:
    version: BlockVersion
    created: bool  # False when the file equals the block's newest version (a retried save)


def block_parse(*, text: str) -> PlaybookSpec:
    """Parse and check a block's file as a playbook's parts are checked (it may have no steps); its own includes are
    expanded. Raises PlaybookInvalid with every problem. The spec returned is the file as written."""
    written = spec_from_document(load_yaml(text, PLAYBOOK_YAML), keys=BLOCK_KEYS)

    def fetch(slug: str, number: int) -> PlaybookSpec | Unavailable:
        if slug == written.slug:  # the version being saved does not exist yet: name the loop rather than say so
            return Unavailable("block", f"a cycle of blocks including each other: '{slug}' includes itself")
        return selectors.block_fetch(slug, number)

    expansion = expand_includes(written, fetch)
    errors = expansion.errors or expansion.relabel(
        validate_spec(expansion.spec, library_modules=selectors.module_slugs(), block=True)
    )
    if errors:
        raise PlaybookInvalid(errors)
    return written


@transaction.atomic(durable=True)
def block_version_save(*, text: str, user: AbstractBaseUser | None = None) -> BlockSaveResult:
    """Save ``text`` as the next version of the block it names (created on first save). Saving the newest version's
    file again creates nothing. Nothing is written on any error."""
    spec = block_parse(text=text)
    for index, module in enumerate(spec.modules):  # in the library, as a playbook's declared modules are
        declared_module_write(module, f"modules[{index}]")
    block, _ = Block.objects.get_or_create(slug=spec.slug, defaults={"name": spec.name})
    block = Block.objects.select_for_update().get(pk=block.pk)  # numbers are given one at a time
    newest = block.versions.order_by("-number").first()
    if newest is not None and selectors.block_file_spec(newest.pk, newest.text) == spec:
        return BlockSaveResult(newest, False)
    if (block.name, block.description) != (spec.name, spec.description):
        block.name, block.description = spec.name, spec.description
        block.save(update_fields=["name", "description", "updated_at"])
    number = (block.versions.aggregate(highest=Max("number"))["highest"] or 0) + 1
    created_by = user if user is not None and user.is_authenticated else None
    version = BlockVersion.objects.create(block=block, number=number, text=text, created_by=created_by)
    return BlockSaveResult(version, True)


def block_text_problems(*, text: str) -> list[SpecError]:
    """What is wrong with a block's file (the admin's form), empty when it can be saved."""
    try:
        block_parse(text=text)
    except PlaybookInvalid as invalid:
        return invalid.errors
    return []


__all__ = ["BlockSaveResult", "block_parse", "block_text_problems", "block_version_save"]
