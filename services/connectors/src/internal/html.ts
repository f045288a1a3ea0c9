// The sandboxes serve small pages a person can click through (a 3-D Secure challenge, an Alipay
// cashier). Everything placed in them is escaped: references and URLs come from requests.
const html_escapes: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (character) => html_escapes[character] ?? character);
}
