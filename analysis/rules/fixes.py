"""How to fix what each rule finds: one line, shown under every finding of the rule (data)."""
from __future__ import annotations


# How to fix what each rule finds: one line, shown under every finding of the rule.
FIXES = {
    "backward-social": "move the follow links below the page's offer, and link a product or contact page first",
    "backward-social:profile:header": ("move the follow icons out of the header into the footer, and put a link to "
                                       "your offer (pricing, contact, a demo, or a project's download) in their place"),
    "backward-social:profile:nav": ("move the follow icons out of the navigation into the footer, and put a link to "
                                    "your offer (pricing, contact, a demo, or a project's download) in their place"),
    "backward-social:profile:main": "move the follow links below the page's call to action, or into the footer",
    "backward-social:profile:aside": ("move the follow icons from the sidebar into the footer, and put a call to action "
                                      "(pricing, contact, a demo) in the sidebar instead"),
    "backward-social:profile:footer": ("put an offer (pricing, contact, a demo) above the footer on the pages that have "
                                       "none, or drop the follow icons from those pages; below an offer they cost little"),
    "backward-social:profile:head": "nothing to fix for visitors: links in the page head are not shown",
    "backward-social:identity": "nothing to fix: identity markup (rel=me, sameAs) is no route for visitors",
    "backward-social:third-party": "fine where it credits someone; make sure the page links your own offer first",
    "backward-social:share": "keep share buttons below the post's call to action, or drop them",
    "backward-social:content": ("embed or quote the post or video on the page instead of sending readers away; a link "
                                "to your own code repository or issue tracker is fine where contributors are meant to go"),
    # (the plan's content items all on a code host: GitHub, GitLab)
    "backward-social:code": ("fine where it sends contributors to your own repository or issue tracker; on a page meant "
                             "for customers, link the product, download or docs page first"),
    "backward-social:community": "fine as a way to stay in touch; put the invitation below the page's offer",
    "backward-blog": "link the site's own pages (product, pricing, contact) where this link stands, or accept it as a mild step",
    "dead-end": "link each post to a product, pricing or contact page (a call to action)",
    "content-dead-end": "in each post's text, link the product, pricing, demo or sign-up page the post is about (a call to action in the content, not only the menu)",
    "stranded-social": "add a link to the site or the blog to the profile's bio or header",
    "stranded-social:unverified": ("nothing is known against the profile: funnelcheck could not read it (the reason "
                                   "says why); look at it yourself, or run the audit again later"),
    "stranded-social:not-checkable": ("look at the profile while logged in and add a link to the blog if it has "
                                      "none; then state what it links to in funnel.toml's [profiles] (links, checked)"),
    "rel-me-missing": "add rel=\"me\" to the site's link to the Mastodon profile (<a rel=\"me\" href=...>), then save the profile once: Mastodon verifies the field",
    "social-before-offer": "add a purchase or contact offer to these pages, above the social links",
    "lead-form-target": "restore the thank-you page or point the form's action / redirect field at one that exists; test the form once by hand",
    "lead-form-target:comment": "turn comments off in the static export, or send them to a hosted comment service",
    "buried-offer": "link the offer from the pages that lead to it: the header or nav, and the posts and product pages about it",
    "untracked-inbound": "add utm_source / utm_medium parameters to the profile's link",
    "canonical-elsewhere": ("point each page's canonical link at its own address; delete the page if you did not "
                            "write it (a hacked plugin or theme injects such pages), then change the site's passwords"),
    "broken-link": "fix or remove the link (or restore the page it points to)",
    "broken-link:offer": ("restore the offer page (or 301-redirect its old address to the page that replaced it), "
                          "then click every link to it once"),
    "broken-link:page": "restore the page, 301-redirect its old address to its replacement, or correct the links",
    "broken-link:asset": "restore the file, or correct the src/href in the template that loads it",
    "broken-link:external": "update the link to the other site's new address, or remove it",
    "broken-link:social": "update the profile link (the account moved, was renamed or was deleted), or remove it",
    "broken-link:form": ("create the page the form sends visitors to (its action or thank-you page), or point the form "
                         "at one that exists; then send one test lead"),
    "broken-link:stylesheet": "restore the files, or remove the stylesheet's rules that name them (where those rules apply, visitors get no image or font)",
    "redirect": "link the final URL directly",
    "redirect-chain": "link the final URL directly, and shorten the chain on the server",
    "redirect-loop": "fix the server's redirect rules: the chain never ends",
    "missing-anchor": "link an id that exists on the page, or add the id",
    "missing-anchor:refresh-stub": "link the final page with the fragment: a <meta refresh> stub drops it (an HTTP redirect keeps it)",
    "orphan-page": "link the page from the site, or drop it from the sitemap",
    "orphan-page:file": "link the page from the site, or delete the file if it is not meant to be published",
    "unverified-link": "check it by hand in a browser",
    "skipped-link": ("nothing to fix; to check it anyway: --ignore-robots (robots.txt), --include (--exclude), "
                     "--allow-private (a private address)"),
    "unsupported-scheme": "nothing to fix unless the link is a mistake",
    "malformed-url": "correct the href: it is not a URL a browser can follow",
    "crawl-trap": "make the pattern's links rel=nofollow or finite (or --exclude it), so crawlers and visitors do not loop",
    "crawl-trap:deep": ("make the links that lead on for ever (a calendar's next month, next day) rel=nofollow or stop "
                        "them where the content ends (or --exclude the pattern); if these pages are real, list them in "
                        "a sitemap: listed pages are never cut"),
    "crawl-trap:repeating": ("make the template's links root-relative (/docs/, not docs/) and answer 404 for paths "
                             "that do not exist: relative links on a page served at any path nest for ever"),
    "crawl-trap:session": "keep session ids in a cookie, not in URLs (or --exclude the parameter)",
    "crawl-trap:wide": ("if these pages are real (a large catalogue), list them in a sitemap: listed pages never count; "
                        "if they are filter or sort combinations, make those links rel=nofollow (or --exclude them)"),
    "insecure-link": "link https:// (search and replace http:// for the site's own host)",
    "too-many-links": "split the page: past the cap its links were not read, and no visitor reads them either",
    "javascript-links": ("put these links in the HTML the server sends (server-side rendering or a static <a href> "
                         "in the template), so crawlers and link previews see them too"),
    "javascript-links:template": ("render the template's menu, footer and calls to action on the server (or as "
                                  "plain <a href> in its HTML); keep JavaScript for what only it can do"),
    "javascript-removed": ("remove the links from the served HTML, or keep them once rendered: crawlers should "
                           "follow the links visitors see"),
    "javascript-unrendered": ("install Chromium (apt-get install chromium) or give --chromium PATH, and audit "
                              "again; if rendering timed out, raise --timeout"),
    "javascript-unrendered:failed": ("see why in the message: a page that did not load in time may be this machine's "
                                     "load, not the site (a large crawl keeps Chromium waiting): audit again, or raise "
                                     "--timeout; a page over its memory, or whose scripts never stop, is the site's to "
                                     "fix; the links they build are missing from this audit"),
}
