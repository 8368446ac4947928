//! The `init` code of a stage: its blocks' constructor calls, with runs of
//! equal calls as one `repeat` and single calls in a row in one `vec![..]`.

use proc_macro2::TokenStream;
use quote::quote;

pub fn stage_init(calls: Vec<TokenStream>) -> TokenStream {
    let calls: Vec<(String, TokenStream)> = calls.into_iter().map(|c| (c.to_string(), c)).collect();
    let mut parts = Vec::new();
    let mut k = 0;
    while k < calls.len() {
        let mut j = k + 1;
        while j < calls.len() && calls[j].0 == calls[k].0 {
            j += 1;
        }
        let call = &calls[k].1;
        let n = proc_macro2::Literal::usize_unsuffixed(j - k);
        parts.push(if j - k == 1 { (true, quote! { #call }) } else { (false, quote! { repeat(#n, || #call) }) });
        k = j;
    }
    let mut groups: Vec<TokenStream> = Vec::new();
    let mut singles: Vec<TokenStream> = Vec::new();
    for (single, p) in parts {
        if single {
            singles.push(p);
        } else {
            if !singles.is_empty() {
                groups.push(quote! { vec![#(#singles),*] });
                singles.clear();
            }
            groups.push(p);
        }
    }
    if !singles.is_empty() {
        groups.push(quote! { vec![#(#singles),*] });
    }
    if groups.len() == 1 {
        let p = &groups[0];
        quote! { #p }
    } else {
        quote! { [#(#groups),*].concat() }
    }
}
