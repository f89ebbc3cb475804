//! `#[domain_tools]`, re-exported as `gateway::domain::domain_tools`; its
//! documentation is there.
//!
//! The macro only writes the `DomainTools::register` an author would
//! otherwise write by hand: one `tools.query(…)` / `tools.action(…)` /
//! `tools.begin_session_adds(…)` call per marked method. Every check of a
//! tool's types and names stays in the kit's registry, so a tool registered
//! either way is checked the same way.

use proc_macro::TokenStream;
use quote::quote;
use syn::{
    Attribute, Expr, ExprLit, ImplItem, ItemImpl, Lit, LitStr, Meta, parse_macro_input,
    spanned::Spanned,
};

/// See `gateway::domain::domain_tools`.
#[proc_macro_attribute]
pub fn domain_tools(attr: TokenStream, item: TokenStream) -> TokenStream {
    if !attr.is_empty() {
        return syn::Error::new(
            proc_macro2::TokenStream::from(attr).span(),
            "`#[domain_tools]` takes no arguments; mark the methods with \
             `#[query(…)]`, `#[action(…)]` or `#[begin_session]`",
        )
        .to_compile_error()
        .into();
    }
    let mut block = parse_macro_input!(item as ItemImpl);
    match expand(&mut block) {
        Ok(tokens) => tokens.into(),
        Err(e) => {
            // The impl block as written, so the methods' own errors still show.
            let error = e.to_compile_error();
            quote!(#block #error).into()
        }
    }
}

/// What a marked method becomes.
enum Tool {
    Query(Options),
    Action(Options),
    BeginSession,
}

struct Options {
    title: LitStr,
    additive: bool,
    open_world: bool,
}

fn expand(block: &mut ItemImpl) -> syn::Result<proc_macro2::TokenStream> {
    if let Some((_, path, _)) = &block.trait_ {
        return Err(syn::Error::new(
            path.span(),
            "`#[domain_tools]` goes on the app's own `impl` block, not a trait impl",
        ));
    }
    let mut calls = Vec::new();
    let mut errors: Option<syn::Error> = None;
    for item in &mut block.items {
        let ImplItem::Fn(method) = item else { continue };
        let tool = match take_marker(&mut method.attrs) {
            Ok(Some(tool)) => tool,
            Ok(None) => continue,
            Err(e) => {
                combine(&mut errors, e);
                continue;
            }
        };
        let ident = &method.sig.ident;
        let name = LitStr::new(&ident.to_string(), ident.span());
        let (kind, options) = match tool {
            Tool::BeginSession => {
                calls.push(quote!(tools.begin_session_adds(Self::#ident);));
                continue;
            }
            Tool::Query(options) => (quote!(query), options),
            Tool::Action(options) => (quote!(action), options),
        };
        let Some(description) = description(&method.attrs) else {
            combine(
                &mut errors,
                syn::Error::new(
                    ident.span(),
                    format!(
                        "`{ident}` needs a `///` doc comment: it is the tool's description, \
                         which the model reads to decide when to call it"
                    ),
                ),
            );
            continue;
        };
        let title = &options.title;
        let description = LitStr::new(&description, ident.span());
        let additive = options.additive.then(|| quote!(.additive()));
        let open_world = options.open_world.then(|| quote!(.open_world()));
        calls.push(quote! {
            tools.#kind(#name, #title, #description, Self::#ident) #additive #open_world;
        });
    }
    if let Some(e) = errors {
        return Err(e);
    }
    let (impl_generics, _, where_clause) = block.generics.split_for_impl();
    let self_ty = &block.self_ty;
    Ok(quote! {
        #block

        impl #impl_generics ::gateway::domain::DomainTools for #self_ty #where_clause {
            fn register(tools: &mut ::gateway::domain::Tools<Self>) {
                #(#calls)*
            }
        }
    })
}

fn combine(errors: &mut Option<syn::Error>, e: syn::Error) {
    match errors {
        Some(errors) => errors.combine(e),
        None => *errors = Some(e),
    }
}

/// Removes the method's `#[query]`, `#[action]` or `#[begin_session]` and
/// says which it was; two of them on one method is an error.
fn take_marker(attrs: &mut Vec<Attribute>) -> syn::Result<Option<Tool>> {
    let mut found = None;
    let mut kept = Vec::with_capacity(attrs.len());
    for attr in attrs.drain(..) {
        let tool = if attr.path().is_ident("query") {
            Tool::Query(options(&attr, false)?)
        } else if attr.path().is_ident("action") {
            Tool::Action(options(&attr, true)?)
        } else if attr.path().is_ident("begin_session") {
            if !matches!(attr.meta, Meta::Path(_)) {
                return Err(syn::Error::new(
                    attr.span(),
                    "`#[begin_session]` takes no arguments: the method's output becomes the \
                     `app` fields of `begin_session`",
                ));
            }
            Tool::BeginSession
        } else {
            kept.push(attr);
            continue;
        };
        if found.is_some() {
            return Err(syn::Error::new(
                attr.span(),
                "a method is one tool: mark it with one of `#[query]`, `#[action]`, \
                 `#[begin_session]`",
            ));
        }
        found = Some(tool);
    }
    *attrs = kept;
    Ok(found)
}

/// `title = "…"`, and for an action `additive`; `open_world` for either.
fn options(attr: &Attribute, action: bool) -> syn::Result<Options> {
    let which = if action { "action" } else { "query" };
    let mut title = None;
    let mut additive = false;
    let mut open_world = false;
    if !matches!(attr.meta, Meta::List(_)) {
        return Err(syn::Error::new(
            attr.span(),
            format!("`#[{which}]` needs a title: `#[{which}(title = \"Book a slot\")]`"),
        ));
    }
    attr.parse_nested_meta(|meta| {
        if meta.path.is_ident("title") {
            title = Some(meta.value()?.parse::<LitStr>()?);
        } else if meta.path.is_ident("additive") && action {
            additive = true;
        } else if meta.path.is_ident("open_world") {
            open_world = true;
        } else {
            let allowed = if action {
                "`title = \"…\"`, `additive`, `open_world`"
            } else {
                "`title = \"…\"`, `open_world` (a query only reads, so it is never additive)"
            };
            return Err(meta.error(format!("`#[{which}]` takes {allowed}")));
        }
        Ok(())
    })?;
    let title = title.ok_or_else(|| {
        syn::Error::new(
            attr.span(),
            format!("`#[{which}]` needs `title = \"…\"`: the name hosts show for the tool"),
        )
    })?;
    if title.value().trim().is_empty() {
        return Err(syn::Error::new(title.span(), "the title is empty"));
    }
    Ok(Options {
        title,
        additive,
        open_world,
    })
}

/// The method's doc comment as one text, wrapped lines joined as Markdown
/// reads them (a blank line keeps a paragraph break); `None` when there is
/// none.
fn description(attrs: &[Attribute]) -> Option<String> {
    let lines: Vec<String> = attrs
        .iter()
        .filter(|attr| attr.path().is_ident("doc"))
        .filter_map(|attr| match &attr.meta {
            Meta::NameValue(nv) => match &nv.value {
                Expr::Lit(ExprLit {
                    lit: Lit::Str(text),
                    ..
                }) => Some(text.value()),
                _ => None,
            },
            _ => None,
        })
        // `split`, not `lines`: a bare `///` is one empty line, a paragraph break.
        .flat_map(|text| {
            text.split('\n')
                .map(|line| line.trim().to_owned())
                .collect::<Vec<_>>()
        })
        .collect();
    let paragraphs: Vec<String> = lines
        .split(|line| line.is_empty())
        .filter(|paragraph| !paragraph.is_empty())
        .map(|paragraph| paragraph.join(" "))
        .collect();
    (!paragraphs.is_empty()).then(|| paragraphs.join("\n\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expanded(item: proc_macro2::TokenStream) -> syn::Result<String> {
        let mut block: ItemImpl = syn::parse2(item).expect("an impl block");
        expand(&mut block).map(|tokens| tokens.to_string())
    }

    #[test]
    fn each_marked_method_is_registered_with_its_doc_comment_and_the_markers_are_gone() {
        let out = expanded(quote! {
            impl Booking {
                /// Book seats
                /// on a slot.
                ///
                /// Retrying never books twice.
                #[action(title = "Book a slot", additive)]
                async fn domain_book(self: Arc<Self>, me: Caller, args: BookArgs, tx: Tx) -> R {}
                /// Your bookings.
                #[query(title = "Your bookings", open_world)]
                async fn user_bookings(self: Arc<Self>, me: Caller, _: NoArgs) -> R {}
                #[begin_session]
                async fn open(self: Arc<Self>, me: Caller) -> R {}
                fn helper(&self) {}
            }
        })
        .expect("expands");
        assert!(
            out.contains(
                r#"tools . action ("domain_book" , "Book a slot" , "Book seats on a slot.\n\nRetrying never books twice." , Self :: domain_book) . additive () ;"#
            ),
            "{out}"
        );
        assert!(
            out.contains(
                r#"tools . query ("user_bookings" , "Your bookings" , "Your bookings." , Self :: user_bookings) . open_world () ;"#
            ),
            "{out}"
        );
        assert!(
            out.contains("tools . begin_session_adds (Self :: open) ;"),
            "{out}"
        );
        assert!(!out.contains("# [action"), "{out}");
        assert!(!out.contains("# [query"), "{out}");
        assert!(
            !out.contains("helper)"),
            "unmarked methods are not tools: {out}"
        );
    }

    #[test]
    fn a_tool_without_a_doc_comment_or_title_is_a_compile_error_that_says_why() {
        let missing_doc = expanded(quote! {
            impl A { #[query(title = "T")] async fn domain_x(self: Arc<Self>) {} }
        })
        .expect_err("refused");
        assert!(
            missing_doc.to_string().contains("doc comment"),
            "{missing_doc}"
        );

        let missing_title = expanded(quote! {
            impl A { /// D
                #[action] async fn domain_x(self: Arc<Self>) {} }
        })
        .expect_err("refused");
        assert!(
            missing_title.to_string().contains("needs a title"),
            "{missing_title}"
        );

        let additive_query = expanded(quote! {
            impl A { /// D
                #[query(title = "T", additive)] async fn domain_x(self: Arc<Self>) {} }
        })
        .expect_err("refused");
        assert!(
            additive_query.to_string().contains("never additive"),
            "{additive_query}"
        );

        let two = expanded(quote! {
            impl A { /// D
                #[query(title = "T")] #[action(title = "T")] async fn domain_x(self: Arc<Self>) {} }
        })
        .expect_err("refused");
        assert!(two.to_string().contains("one tool"), "{two}");
    }

    #[test]
    fn a_trait_impl_is_refused() {
        let e = expanded(quote! { impl DomainTools for A {} }).expect_err("refused");
        assert!(e.to_string().contains("own `impl` block"), "{e}");
    }
}
