// WCAG 2.1 contrast of every visible text in the widget against its effective background,
// with its font size: evaluated in the page by tests/web/widget_page.py.
(() => {
  const root = document.querySelector('minsheng-widget').shadowRoot;
  const parse = (value) => {
    const m = value.match(/rgba?\(([^)]+)\)/);
    if (!m) return null;
    const p = m[1].split(/[ ,\/]+/).filter(Boolean).map(Number);
    return { rgb: p.slice(0, 3), a: p.length > 3 ? p[3] : 1 };
  };
  const lum = (rgb) => {
    const c = rgb.map((v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); });
    return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
  };
  const ratio = (a, b) => { const x = lum(a), y = lum(b); return (Math.max(x, y) + 0.05) / (Math.min(x, y) + 0.05); };
  const background = (node) => {
    for (let n = node; n; n = n.parentElement || (n.getRootNode() && n.getRootNode().host)) {
      const bg = parse(getComputedStyle(n).backgroundColor);
      if (bg && bg.a > 0.5) return bg.rgb;
    }
    return [255, 255, 255];
  };
  const results = [];
  const visit = (node) => {
    for (const child of node.children) {
      const style = getComputedStyle(child);
      if (style.display === 'none' || style.visibility === 'hidden') continue;
      const ownText = [...child.childNodes].some((t) => t.nodeType === 3 && t.textContent.trim());
      const box = child.getBoundingClientRect();
      if (ownText && box.width > 2 && box.height > 2 && !child.closest('.sr-only')) {
        const size = parseFloat(style.fontSize);
        const bold = parseInt(style.fontWeight, 10) >= 700;
        results.push({
          text: child.textContent.trim().slice(0, 30),
          cls: child.className && child.className.baseVal === undefined ? child.className : '',
          ratio: ratio(parse(style.color).rgb, background(child)),
          size: size,
          large: size >= 24 || (bold && size >= 18.66),
        });
      }
      visit(child);
    }
  };
  visit(root);
  const input = root.querySelector('textarea');
  const placeholder = getComputedStyle(input, '::placeholder');
  results.push({ text: 'placeholder', cls: 'input', size: parseFloat(getComputedStyle(input).fontSize),
                 large: false, ratio: ratio(parse(placeholder.color).rgb, background(input)) });
  return results;
})
