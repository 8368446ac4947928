//! The last step: lines to text. Two kinds of columns are lined up, as the
//! standard library writes them: the `=` of consecutive one-line `model`
//! items, and the comments at the end of consecutive lines.

use super::print::Line;

/// Spaces between code and the comment at the end of its line.
const COMMENT_GAP: usize = 2;

pub fn join(mut lines: Vec<Line>) -> String {
    align_model_eqs(&mut lines);
    let comment_cols = comment_columns(&lines);
    let mut out = String::new();
    for (line, comment_col) in lines.iter().zip(comment_cols) {
        if line.blank_before {
            out.push('\n');
        }
        let mut text = " ".repeat(line.indent);
        text += &line.code;
        if let Some(c) = &line.comment {
            let pad = comment_col.saturating_sub(line.width).max(1);
            text += &" ".repeat(pad);
            text += c;
        }
        // Multi-line block comments may carry trailing blanks on inner lines too.
        for (k, part) in text.split('\n').enumerate() {
            if k > 0 {
                out.push('\n');
            }
            out += part.trim_end();
        }
        out.push('\n');
    }
    out
}

/// `model resnet18  = ..` / `model resnet101 = ..`: in a run of one-line model
/// items (no blank line between), the `=` signs share a column.
fn align_model_eqs(lines: &mut [Line]) {
    let single = |k: usize, lines: &[Line]| {
        lines[k].model_eq.is_some() && lines.get(k + 1).is_none_or(|next| next.blank_before || next.indent == 0)
    };
    let mut k = 0;
    while k < lines.len() {
        if !single(k, lines) {
            k += 1;
            continue;
        }
        let mut run_end = k + 1;
        while run_end < lines.len() && !lines[run_end].blank_before && single(run_end, lines) {
            run_end += 1;
        }
        let col = lines[k..run_end].iter().filter_map(|l| l.model_eq).max().unwrap_or(0);
        for line in &mut lines[k..run_end] {
            if let Some(eq) = line.model_eq {
                let pad = col - eq;
                line.code.insert_str(eq, &" ".repeat(pad));
                line.width += pad;
            }
        }
        k = run_end;
    }
}

/// For each line, the column its trailing comment starts at: comments on
/// consecutive lines line up two spaces after the longest code among them.
fn comment_columns(lines: &[Line]) -> Vec<usize> {
    let mut cols = vec![0; lines.len()];
    let trailing = |l: &Line| l.comment.is_some() && l.width > 0;
    let mut k = 0;
    while k < lines.len() {
        if !trailing(&lines[k]) {
            k += 1;
            continue;
        }
        let mut run_end = k + 1;
        while run_end < lines.len() && !lines[run_end].blank_before && trailing(&lines[run_end]) {
            run_end += 1;
        }
        let col = lines[k..run_end].iter().map(|l| l.width).max().unwrap_or(0) + COMMENT_GAP;
        cols[k..run_end].fill(col);
        k = run_end;
    }
    cols
}
