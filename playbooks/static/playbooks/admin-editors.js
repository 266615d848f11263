/* Structured editors over the admin's JSON text areas (playbooks/admin/editors.py): a trigger's actions, a branch
   point's options. The text area stays the form's field and the server validates it as before; this script hides it,
   draws a row per item and writes the JSON back on every change. A value it cannot draw is left as a text area. */
'use strict';
(function () {
  let counter = 0;
  const uid = (base) => `${base || 'editor'}-${++counter}`;

  function el(tag, props, children) {
    const node = document.createElement(tag);
    Object.entries(props || {}).forEach(([key, value]) => {
      if (key === 'text') node.textContent = value;
      else if (key === 'class') node.className = value;
      else if (value !== undefined && value !== null) node.setAttribute(key, value);
    });
    (children || []).forEach((child) => child && node.appendChild(child));
    return node;
  }

  function datalist(id, values) {
    let list = document.getElementById(id);
    if (!list) {
      list = el('datalist', {id: id}, values.map((value) => el('option', {value: value})));
      document.body.appendChild(list);
    }
    return id;
  }

  /* One labelled input; returns [wrapper, read()] where read() gives the field's value ('' or false when empty). */
  function field(spec, value, context) {
    const id = uid(context.base);
    const label = el('label', {for: id, text: spec.label});
    let input;
    if (spec.type === 'select') {
      input = el('select', {id: id}, spec.choices.map((c) => el('option', {value: c, text: c || '(none)'})));
      input.value = value === undefined ? spec.choices[0] : value;
    } else if (spec.type === 'checkbox') {
      input = el('input', {id: id, type: 'checkbox'});
      input.checked = value === true;
    } else if (spec.type === 'condition') {
      input = el('textarea', {id: id, rows: 2, spellcheck: 'false'});
      input.value = value || '';
    } else if (spec.type === 'actions') {
      const nested = actionList(Array.isArray(value) ? value : [], context, false);
      const box = el('fieldset', {class: 'editor-nested'}, [el('legend', {text: spec.label}), nested.node]);
      return [box, nested.read];
    } else {
      const list = spec.type === 'module' ? datalist('editor-modules', context.modules)
        : spec.type === 'step' ? datalist('editor-steps', context.steps) : undefined;
      input = el('input', {id: id, type: 'text', list: list, spellcheck: 'false'});
      input.value = value === undefined || value === null ? '' : String(value);
    }
    input.addEventListener('input', context.changed);
    input.addEventListener('change', context.changed);
    const wrapper = el('div', {class: `editor-field editor-${spec.type}`}, [label, input]);
    return [wrapper, () => (spec.type === 'checkbox' ? input.checked : input.value.trim())];
  }

  function drawable(action, schema, nested) {
    if (typeof action !== 'object' || action === null || Array.isArray(action)) return false;
    const keys = Object.keys(action);
    if (keys.length !== 1 || !(keys[0] in schema) || (nested && keys[0] === 'wait')) return false;
    const spec = schema[keys[0]];
    const argument = action[keys[0]];
    if (spec.shape === 'mapping') {
      if (keys[0] === 'webhook' && typeof argument === 'string') return true;
      if (typeof argument !== 'object' || argument === null || Array.isArray(argument)) return false;
      const names = spec.fields.map((f) => f.name);
      return Object.keys(argument).every((name) => names.includes(name)) &&
        ['then', 'else'].every((name) => !(name in argument) || (Array.isArray(argument[name]) &&
          argument[name].every((inner) => drawable(inner, schema, true))));
    }
    if (spec.shape === 'scalar') return typeof argument === 'string';
    return true;
  }

  /* The rows of an action list; returns {node, read()} where read() gives the list of actions. */
  function actionList(actions, context, topLevel) {
    const rows = [];
    const body = el('div', {class: 'editor-rows'});
    const kinds = Object.keys(context.schema).filter((kind) => topLevel || kind !== 'wait');

    function addRow(action) {
      const kind = Object.keys(action)[0];
      const row = {kind: kind, readers: []};
      const kindId = uid(context.base);
      const select = el('select', {id: kindId, class: 'editor-kind'},
        kinds.map((k) => el('option', {value: k, text: `${context.schema[k].label} (${k})`})));
      select.value = kind;
      const fields = el('div', {class: 'editor-fields'});
      const remove = el('button', {type: 'button', class: 'editor-remove', text: 'Remove'});
      const node = el('div', {class: 'editor-row'}, [
        el('div', {class: 'editor-field editor-choice'}, [el('label', {for: kindId, text: 'Action'}), select]),
        fields, remove]);

      function drawFields(argument) {
        fields.replaceChildren();
        const spec = context.schema[row.kind];
        row.readers = spec.fields.map((f) => {
          let value;
          if (spec.shape === 'scalar') value = argument;
          else if (spec.shape === 'mapping' && typeof argument === 'string') value = f.name === 'endpoint' ? argument : undefined;
          else if (spec.shape === 'mapping' && argument) value = argument[f.name];
          const [wrapper, read] = field(f, value, context);
          fields.appendChild(wrapper);
          return [f, read];
        });
      }
      drawFields(action[kind]);
      select.addEventListener('change', () => { row.kind = select.value; drawFields(undefined); context.changed(); });
      remove.addEventListener('click', () => { rows.splice(rows.indexOf(row), 1); node.remove(); context.changed(); });
      row.read = () => {
        const spec = context.schema[row.kind];
        if (spec.shape === 'true') return {[row.kind]: true};
        if (spec.shape === 'scalar') return {[row.kind]: row.readers[0][1]()};
        const argument = {};
        row.readers.forEach(([f, read]) => {
          const value = read();
          if (value === '' || value === false || (Array.isArray(value) && value.length === 0)) return;
          argument[f.name] = value;
        });
        return {[row.kind]: argument};
      };
      rows.push(row);
      body.appendChild(node);
    }

    actions.forEach(addRow);
    const add = el('button', {type: 'button', class: 'editor-add', text: topLevel ? 'Add an action' : 'Add'});
    add.addEventListener('click', () => {
      addRow({[kinds[0]]: context.schema[kinds[0]].shape === 'true' ? true : ''});
      context.changed();
    });
    return {node: el('div', {class: 'editor-list'}, [body, add]), read: () => rows.map((row) => row.read())};
  }

  /* A branch point's options, in order, as a playbook file writes them: {when, module} or {when, goto}, and last
     {otherwise: module} or {otherwise: {goto: step}}. A row with a blank 'when' is the otherwise. */
  function optionList(options, context) {
    const rows = [];
    const body = el('div', {class: 'editor-rows'});

    function addRow(option) {
      const row = {};
      const whenId = uid(context.base);
      const targetId = uid(context.base);
      const kindId = uid(context.base);
      const when = el('textarea', {id: whenId, rows: 2, spellcheck: 'false',
        placeholder: 'blank: otherwise (the last option, taken when no other matches)'});
      const otherwise = 'otherwise' in option;
      const jump = otherwise ? option.otherwise : option;
      const isGoto = Boolean(jump && typeof jump === 'object' && jump.goto);
      when.value = otherwise ? '' : option.when || '';
      const kind = el('select', {id: kindId}, [el('option', {value: 'module', text: 'module'}),
        el('option', {value: 'goto', text: 'go to step'})]);
      kind.value = isGoto ? 'goto' : 'module';
      const target = el('input', {id: targetId, type: 'text', spellcheck: 'false'});
      const suggest = () => target.setAttribute('list', kind.value === 'goto'
        ? datalist('editor-steps', context.steps) : datalist('editor-modules', context.modules));
      suggest();
      target.value = isGoto ? jump.goto : (otherwise ? option.otherwise : option.module) || '';
      const up = el('button', {type: 'button', class: 'editor-up', text: 'Move up'});
      const remove = el('button', {type: 'button', class: 'editor-remove', text: 'Remove'});
      const node = el('div', {class: 'editor-row editor-option'}, [
        el('div', {class: 'editor-field editor-condition'}, [el('label', {for: whenId, text: 'When'}), when]),
        el('div', {class: 'editor-field editor-choice'}, [el('label', {for: kindId, text: 'Leads to'}), kind]),
        el('div', {class: 'editor-field editor-module'}, [el('label', {for: targetId, text: 'Target'}), target]),
        up, remove]);
      [when, kind, target].forEach((input) => {
        input.addEventListener('input', context.changed);
        input.addEventListener('change', context.changed);
      });
      kind.addEventListener('change', suggest);
      remove.addEventListener('click', () => { rows.splice(rows.indexOf(row), 1); node.remove(); context.changed(); });
      up.addEventListener('click', () => {
        const index = rows.indexOf(row);
        if (index === 0) return;
        rows.splice(index, 1);
        rows.splice(index - 1, 0, row);
        body.insertBefore(node, node.previousSibling);
        context.changed();
      });
      row.read = () => {
        const to = target.value.trim();
        if (!when.value.trim()) return {otherwise: kind.value === 'goto' ? {goto: to} : to};
        return {when: when.value.trim(), [kind.value]: to};
      };
      rows.push(row);
      body.appendChild(node);
    }

    options.forEach(addRow);
    const add = el('button', {type: 'button', class: 'editor-add', text: 'Add an option'});
    add.addEventListener('click', () => { addRow({}); context.changed(); });
    return {node: el('div', {class: 'editor-list'}, [body, add]), read: () => rows.map((row) => row.read())};
  }

  function enhance(area) {
    if (area.dataset.enhanced || area.name.includes('__prefix__')) return;
    let value;
    try {
      value = JSON.parse(area.value.trim() || '[]') ?? []; // a new row's field holds null
    } catch (error) {
      return; // not JSON: left as typed, with the server's message on the field
    }
    const schema = area.dataset.schema ? JSON.parse(area.dataset.schema) : {};
    const isActions = area.dataset.editor === 'actions';
    if (!Array.isArray(value) || (isActions && !value.every((action) => drawable(action, schema, false)))) return;
    const optionKeys = ['when', 'module', 'goto', 'otherwise'];
    if (!isActions && !value.every((o) => o && typeof o === 'object' && !Array.isArray(o) &&
        Object.keys(o).every((key) => optionKeys.includes(key)))) return;
    area.dataset.enhanced = 'true';
    const context = {
      base: area.id, schema: schema,
      modules: JSON.parse(area.dataset.modules || '[]'), steps: JSON.parse(area.dataset.steps || '[]'),
      changed: () => { area.value = JSON.stringify(editor.read()); },
    };
    const editor = isActions ? actionList(value, context, true) : optionList(value, context);
    const toggle = el('button', {type: 'button', class: 'editor-json', text: 'Edit as JSON'});
    toggle.addEventListener('click', () => {
      const showing = area.classList.toggle('editor-source-shown');
      toggle.textContent = showing ? 'Hide the JSON' : 'Edit as JSON';
    });
    area.addEventListener('change', () => { // typed by hand: the rows are drawn again from it
      try {
        const typed = JSON.parse(area.value || '[]');
        if (!Array.isArray(typed)) return;
        const again = isActions ? actionList(typed, context, true) : optionList(typed, context);
        editor.node.replaceWith(again.node);
        Object.assign(editor, again);
      } catch (error) { /* left for the server to name */ }
    });
    area.classList.add('editor-source');
    const wrapper = el('div', {class: 'structured-editor'}, [editor.node, toggle]);
    area.before(wrapper);
    wrapper.appendChild(area); // shown below the rows by "Edit as JSON"; still the form's field
  }

  function enhanceAll(root) {
    root.querySelectorAll('textarea[data-editor]').forEach(enhance);
  }

  document.addEventListener('DOMContentLoaded', () => enhanceAll(document));
  // Django's inlines announce a row added with "Add another ...".
  document.addEventListener('formset:added', (event) => enhanceAll(event.target));
})();
