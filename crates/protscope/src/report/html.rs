//! The report's fixed parts: escaping, the inline style sheet (light and dark), the small
//! table script, and data: links.

use base64::Engine as _;

/// Escapes text for HTML element content and double-quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// An SVG document as an inline element: the XML declaration (if any) and the SVG namespace
/// declaration dropped (HTML puts `<svg>` in that namespace itself, and the page then holds no
/// address at all), the rest kept.
pub fn inline_svg(svg: &str) -> String {
    let svg = svg.trim();
    let svg = match svg.strip_prefix("<?xml") {
        Some(rest) => rest
            .find("?>")
            .map(|i| rest[i + 2..].trim_start())
            .unwrap_or(svg),
        None => svg,
    };
    svg.replacen(" xmlns=\"http://www.w3.org/2000/svg\"", "", 1)
}

/// `data:` URI of a CSV text, so a figure's data downloads from the page itself.
pub fn csv_data_uri(csv: &str) -> String {
    format!(
        "data:text/csv;charset=utf-8;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(csv.as_bytes())
    )
}

/// Light by default, dark when the reader's system asks for it. Figures keep their white
/// background in both (their colours were chosen for it).
pub const CSS: &str = r#"
:root{--fg:#1b1f24;--bg:#ffffff;--muted:#57606a;--line:#d0d7de;--head:#f6f8fa;--link:#0b5cad;--hl:#fff8c5}
@media (prefers-color-scheme: dark){:root{--fg:#e6edf3;--bg:#0d1117;--muted:#9aa4ae;--line:#30363d;--head:#161b22;--link:#6cb6ff;--hl:#3b3216}}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",Arial,sans-serif}
main{max-width:1100px;margin:0 auto;padding:24px 28px 48px}
h1{font-size:1.7em;margin:.2em 0 .6em}h2{font-size:1.35em;margin-top:2em;border-bottom:1px solid var(--line);padding-bottom:.2em}h3{font-size:1.1em;margin-top:1.6em}
a{color:var(--link)}p{max-width:80ch}
nav.toc{border:1px solid var(--line);background:var(--head);padding:8px 18px;margin:16px 0;border-radius:6px}
nav.toc h2{font-size:1em;margin:.4em 0;border:0}nav.toc ol{margin:.2em 0;padding-left:1.4em}
details.provenance{border:1px solid var(--line);border-radius:6px;padding:8px 14px;margin:12px 0}
details.provenance summary{cursor:pointer;font-weight:600}
table{border-collapse:collapse;font-size:13px;margin:6px 0}
th,td{border:1px solid var(--line);padding:3px 8px;text-align:left;vertical-align:top}
td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
p.intro{font-size:16px}
th{background:var(--head);position:sticky;top:0}
table.sortable th{cursor:pointer;user-select:none}
th[aria-sort=ascending]::after{content:" \25B2"}th[aria-sort=descending]::after{content:" \25BC"}
.tablewrap{max-height:480px;overflow:auto;border:1px solid var(--line)}
.tablewrap table{margin:0}
.tools{display:flex;gap:12px;align-items:center;margin:4px 0;font-size:13px;color:var(--muted)}
.tools input{font:inherit;padding:2px 6px;background:var(--bg);color:var(--fg);border:1px solid var(--line);border-radius:4px}
figure{margin:22px 0}
.plot{background:#ffffff;border:1px solid var(--line);border-radius:6px;padding:6px;overflow-x:auto}
.plot svg{display:block;max-width:100%;height:auto;margin:0 auto}
figcaption{font-size:14px;color:var(--fg);margin-top:6px;max-width:100ch}
a.data{margin-left:.6em;font-size:13px;white-space:nowrap}
.caption{margin-bottom:2px}
dl.kv{display:grid;grid-template-columns:max-content 1fr;gap:2px 14px;font-size:13px}
dl.kv dt{color:var(--muted)}dl.kv dd{margin:0;word-break:break-all;font-family:ui-monospace,"DejaVu Sans Mono",monospace}
.reading{background:var(--hl);border-radius:4px;padding:6px 10px}
footer{max-width:1100px;margin:0 auto;padding:0 28px 24px;color:var(--muted);font-size:13px}
"#;

/// Sorts a table by the clicked column (numbers by their value in `data-v`) and filters rows by
/// the search box; no library, no request.
pub const SCRIPT: &str = r#"
(function(){
function key(td){var v=td.getAttribute('data-v');if(v!==null&&v!==''){var f=parseFloat(v);if(!isNaN(f))return f;}return td.textContent.toLowerCase();}
document.querySelectorAll('table.sortable').forEach(function(t){
  var ths=t.tHead.rows[0].cells;
  Array.prototype.forEach.call(ths,function(th,i){th.addEventListener('click',function(){
    var asc=th.getAttribute('aria-sort')!=='ascending';
    Array.prototype.forEach.call(ths,function(h){h.removeAttribute('aria-sort');});
    th.setAttribute('aria-sort',asc?'ascending':'descending');
    var rows=Array.prototype.slice.call(t.tBodies[0].rows);
    rows.sort(function(a,b){var x=key(a.cells[i]),y=key(b.cells[i]);
      if(typeof x!==typeof y){x=String(x);y=String(y);}
      return (x<y?-1:x>y?1:0)*(asc?1:-1);});
    rows.forEach(function(r){t.tBodies[0].appendChild(r);});
  });});
});
document.querySelectorAll('input.search').forEach(function(inp){
  var t=document.getElementById(inp.getAttribute('data-table'));
  var out=document.getElementById(inp.getAttribute('data-count'));
  inp.addEventListener('input',function(){
    var q=inp.value.toLowerCase(),n=0;
    Array.prototype.forEach.call(t.tBodies[0].rows,function(r){
      var show=r.textContent.toLowerCase().indexOf(q)>=0;r.style.display=show?'':'none';if(show)n++;});
    if(out)out.textContent=n+' rows shown';
  });
});
})();
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            escape(r#"<a href="x">&'"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }

    #[test]
    fn drops_the_xml_declaration() {
        let svg = "<?xml version=\"1.0\"?>\n<svg width=\"1\"></svg>";
        assert_eq!(inline_svg(svg), "<svg width=\"1\"></svg>");
        assert_eq!(inline_svg("<svg/>"), "<svg/>");
        assert_eq!(
            inline_svg("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"2\"></svg>"),
            "<svg width=\"2\"></svg>"
        );
    }

    #[test]
    fn data_uri_round_trips() {
        let uri = csv_data_uri("a,b\n1,2\n");
        let encoded = uri.rsplit(',').next().unwrap();
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .unwrap();
        assert_eq!(decoded, b"a,b\n1,2\n");
    }
}
