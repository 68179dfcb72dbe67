//! A component that imports an interface the host does not grant, which the host must
//! reject on upload.

wit_bindgen::generate!({
    inline: r#"
        package test:extra;

        interface secrets {
            read: func() -> string;
        }

        world extra {
            import secrets;
            export run: func() -> string;
        }
    "#,
});

struct Extra;

impl Guest for Extra {
    fn run() -> String {
        test::extra::secrets::read()
    }
}

export!(Extra);
