"""Request body schemas, exact enough that a body the schema accepts is one the gateway
accepts (schemathesis checks both ways). Model aliases and sizes come from the running
config, so the document is the one for this gateway."""

from __future__ import annotations

from typing import Any

from gateway.api.job_request import MAX_METADATA_ENTRIES, MAX_PROMPT
from gateway.api.openai_request import MAX_EDIT_PROMPT, MAX_IMAGES
from gateway.batches import MAX_ITEMS
from gateway.deadlines import MAX_DEADLINE
from gateway.openapi.components import Schema
from gateway.settings import Settings


def trimmed_text(limit: int) -> Schema:
    """1..`limit` characters once leading and trailing whitespace is trimmed."""
    return {
        "type": "string",
        "pattern": rf"^\s*\S(?:[\s\S]{{0,{limit - 2}}}\S)?\s*$",
        "description": f"1..{limit} characters after trimming",
    }


def nullable(schema: Schema) -> Schema:
    return {"anyOf": [schema, {"type": "null"}]}


def _one_size_list(settings: Settings) -> bool:
    return len({model.sizes for model in settings.models.values()}) == 1


def _sized_by_model(settings: Settings, field: str, extra: tuple[str, ...] = ()) -> list[Schema]:
    """`size` must be one of the chosen model's sizes (the default model's when absent)."""
    rules: list[Schema] = []
    if _one_size_list(settings):
        return rules
    for alias, model in settings.models.items():
        chosen: Schema = {"properties": {"model": {"const": alias}}, "required": ["model"]}
        if alias == settings.default_model:
            chosen = {
                "anyOf": [
                    chosen,
                    {"not": {"required": ["model"]}},
                    {"properties": {"model": {"type": "null"}}},
                ]
            }
        allowed = [*extra, *model.sizes]
        rules.append({"if": chosen, "then": {"properties": {field: {"enum": [*allowed, None]}}}})
    return rules


def _needs_images(field: str) -> Schema:
    return {
        "if": {"properties": {field: {"not": {"type": "null"}}}, "required": [field]},
        "then": {"properties": {"images": {"type": "array"}}, "required": ["images"]},
    }


def job_body(settings: Settings) -> Schema:
    sizes = sorted({size for model in settings.models.values() for size in model.sizes})
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["prompt"],
        "properties": {
            "prompt": trimmed_text(MAX_PROMPT),
            "model": nullable({"enum": sorted(settings.models)}),
            "size": nullable({"enum": sizes}),
            "n": {"type": "integer", "minimum": 1, "maximum": 4},
            "seed": nullable({"type": "integer", "minimum": 0, "maximum": 2**63 - 1}),
            "negativePrompt": nullable({"type": "string", "maxLength": MAX_PROMPT}),
            "quality": nullable({"type": "string", "maxLength": 32}),
            "outputFormat": {"enum": ["png", "webp", "jpeg"]},
            "noCache": {"type": "boolean"},
            "webhookUrl": nullable({"type": "string", "maxLength": 2048, "pattern": "^https?://"}),
            "metadata": {
                "type": "object",
                "maxProperties": MAX_METADATA_ENTRIES,
                "propertyNames": {"maxLength": 64},
                "additionalProperties": {"type": "string", "maxLength": 512},
            },
            "deadline": nullable(
                {"type": "number", "exclusiveMinimum": 0, "maximum": MAX_DEADLINE}
            ),
            "images": nullable(
                {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": 16,
                    "items": {
                        "type": "string",
                        "description": "a data: URL, this gateway's own /files/ URL, or an "
                        "http(s) URL fetched through the outbound guard",
                    },
                }
            ),
            "mask": nullable({"type": "string"}),
            "inputFidelity": nullable({"enum": ["high", "low"]}),
        },
        **_all_of(
            [
                *_sized_by_model(settings, "size"),
                _needs_images("mask"),
                _needs_images("inputFidelity"),
            ]
        ),
    }


def batch_body(settings: Settings) -> Schema:
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["jobs"],
        "properties": {
            "jobs": {
                "type": "array",
                "minItems": 1,
                "maxItems": MAX_ITEMS,
                "items": {
                    "description": "each a POST /images/jobs body; an invalid one is refused "
                    "on its own (the batch is still 202)"
                },
            }
        },
    }


def _openai_options(settings: Settings) -> dict[str, Schema]:
    names = sorted(
        {*settings.models, *(n for m in settings.models.values() for n in m.openai_names)}
    )
    sizes = sorted({size for model in settings.models.values() for size in model.sizes})
    return {
        "model": nullable({"enum": names}),
        "n": nullable({"type": "integer", "minimum": 1, "maximum": MAX_IMAGES}),
        "size": nullable({"enum": ["auto", *sizes]}),
        "response_format": nullable({"enum": ["url", "b64_json"]}),
        "user": nullable({"type": "string", "maxLength": 256}),
    }


def _rendering() -> dict[str, Schema]:
    return {
        "quality": nullable({"enum": ["auto", "low", "medium", "high", "standard", "hd"]}),
        "output_format": nullable({"enum": ["png", "jpeg", "webp"]}),
        "output_compression": nullable({"const": 100}),
        "background": nullable({"const": "auto"}),
        "moderation": nullable({"const": "auto"}),
        "stream": nullable({"type": "boolean"}),
        "partial_images": nullable({"type": "integer", "minimum": 0, "maximum": 3}),
    }


def _openai_sizes(settings: Settings) -> list[Schema]:
    """As `_sized_by_model`, where `model` may also be an OpenAI name the alias answers to."""
    rules: list[Schema] = []
    if _one_size_list(settings):
        return rules
    for alias, model in settings.models.items():
        chosen: Schema = {
            "properties": {"model": {"enum": [alias, *model.openai_names]}},
            "required": ["model"],
        }
        if alias == settings.default_model:
            chosen = {
                "anyOf": [
                    chosen,
                    {"not": {"required": ["model"]}},
                    {"properties": {"model": {"type": "null"}}},
                ]
            }
        allowed = ["auto", *model.sizes, None]
        rules.append({"if": chosen, "then": {"properties": {"size": {"enum": allowed}}}})
    return rules


def _stream_for_partials() -> Schema:
    """`partial_images` above 0 needs `stream: true`."""
    return {
        "dependentSchemas": {
            "partial_images": {
                "anyOf": [
                    {"properties": {"partial_images": {"enum": [0, None]}}},
                    {"properties": {"stream": {"const": True}}, "required": ["stream"]},
                ]
            }
        }
    }


def generation_body(settings: Settings) -> Schema:
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["prompt"],
        "properties": {
            "prompt": trimmed_text(MAX_PROMPT),
            **_openai_options(settings),
            **_rendering(),
            "style": {"type": "null"},
        },
        **_all_of([*_openai_sizes(settings), _stream_for_partials()]),
    }


IMAGE_FILE: Schema = {"type": "string", "format": "binary", "contentMediaType": "image/png"}


def edit_form(settings: Settings) -> Schema:
    fields = {**_openai_options(settings), **_rendering()}
    # Form fields are text: null is not a value a form can send.
    form = {name: _non_null(schema) for name, schema in fields.items()}
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["prompt", "image"],
        "properties": {
            "prompt": trimmed_text(MAX_EDIT_PROMPT),
            **form,
            "input_fidelity": {"enum": ["high", "low"]},
            # A rule across fields is not stated beside file parts (schemathesis cannot
            # judge one that holds binary values), so it is said in words here.
            "partial_images": {
                "type": "integer",
                "minimum": 0,
                "maximum": 3,
                "description": "above 0 only with stream: true",
            },
            "image": IMAGE_FILE,
            "mask": IMAGE_FILE,
        },
        **_all_of(_openai_sizes(settings)),
    }


IMAGE_REF: Schema = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "image_url": {
            "type": "string",
            "description": "a data: URL, this gateway's own /files/ URL, or an http(s) URL "
            "fetched through the outbound guard",
        },
        # The gateway has no Files API: a file_id is refused (400).
        "file_id": {"type": "null"},
    },
    "required": ["image_url"],
}


def edit_json_body(settings: Settings) -> Schema:
    """OpenAI's JSON form of an edit: `images: [{image_url}]` and an optional `mask`."""
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["prompt", "images"],
        "properties": {
            "prompt": trimmed_text(MAX_EDIT_PROMPT),
            **_openai_options(settings),
            **_rendering(),
            "input_fidelity": nullable({"enum": ["high", "low"]}),
            "images": {"type": "array", "minItems": 1, "maxItems": 16, "items": IMAGE_REF},
            "mask": nullable(IMAGE_REF),
        },
        **_all_of([*_openai_sizes(settings), _stream_for_partials()]),
    }


def variation_form(settings: Settings) -> Schema:
    form = {name: _non_null(schema) for name, schema in _openai_options(settings).items()}
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["image"],
        "properties": {**form, "image": IMAGE_FILE},
        **_all_of(_openai_sizes(settings)),
    }


def _all_of(rules: list[Schema]) -> Schema:
    return {"allOf": rules} if rules else {}


def _non_null(schema: Schema) -> Any:
    options = schema.get("anyOf")
    if options:
        return next(option for option in options if option != {"type": "null"})
    return schema
