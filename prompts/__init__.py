"""Prompt data shipped with the server: built-in templates (templates/*.yaml) and MCP workflow prompts."""

from prompts.loader import Template, TemplateError, TemplateSettings, build_template, builtin_templates, render

__all__ = ["Template", "TemplateError", "TemplateSettings", "build_template", "builtin_templates", "render"]
