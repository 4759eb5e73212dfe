/** The hints a text box shows when empty: `full`, or `short` where the box is too narrow for `full` on one line. */
export interface PlaceholderTexts {
  full: string;
  short: string;
}

/**
 * A Svelte action: the box's placeholder is the whole hint where it fits the box's width (measured in the box's own
 * font), else the short one, so a narrow window never shows a hint cut off. Follows the box as it is resized.
 */
export function fitPlaceholder(node: HTMLTextAreaElement | HTMLInputElement, texts: PlaceholderTexts) {
  let current = texts;
  const measure = document.createElement('canvas').getContext('2d');
  const fit = () => {
    const style = getComputedStyle(node);
    const room = node.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
    if (measure) measure.font = style.font;
    const fits = !measure || measure.measureText(current.full).width <= room;
    node.placeholder = fits ? current.full : current.short;
  };
  const observer = new ResizeObserver(fit);
  observer.observe(node);
  fit();
  return {
    update(next: PlaceholderTexts) {
      current = next;
      fit();
    },
    destroy() {
      observer.disconnect();
    },
  };
}
