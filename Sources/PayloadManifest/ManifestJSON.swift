// Writing a manifest: keys in the documented order (version, createdAt, expiresAt, metadata,
// payload, compManifest), two-space indentation, absent optionals left out. Foundation's
// JSONEncoder orders keys by hash unless told to sort them, which would make the bytes (and so the
// signed base64 text) change from run to run.

/// A JSON value whose objects keep their key order.
enum OrderedJSON {
    case string(String)
    case bool(Bool)
    case array([OrderedJSON])
    case object([(String, OrderedJSON)])

    func write(to out: inout String, indent: String) {
        let inner = indent + "  "
        switch self {
        case .string(let s): out += jsonString(s)
        case .bool(let b): out += b ? "true" : "false"
        case .array(let items):
            guard !items.isEmpty else { out += "[]"; return }
            out += "[\n"
            for (i, item) in items.enumerated() {
                out += inner
                item.write(to: &out, indent: inner)
                out += i == items.count - 1 ? "\n" : ",\n"
            }
            out += indent + "]"
        case .object(let members):
            guard !members.isEmpty else { out += "{}"; return }
            out += "{\n"
            for (i, (key, value)) in members.enumerated() {
                out += inner + jsonString(key) + ": "
                value.write(to: &out, indent: inner)
                out += i == members.count - 1 ? "\n" : ",\n"
            }
            out += indent + "}"
        }
    }

    static func strings(_ list: [String]) -> OrderedJSON { .array(list.map { .string($0) }) }
}

/// Builds an object from members whose value may be absent.
private func object(_ members: [(String, OrderedJSON?)]) -> OrderedJSON {
    .object(members.compactMap { key, value in value.map { (key, $0) } })
}

extension PayloadManifest {
    var jsonValue: OrderedJSON {
        object([
            ("version", .string(version)),
            ("createdAt", .string(ManifestTime.string(createdAt))),
            ("expiresAt", .string(ManifestTime.string(expiresAt))),
            (
                "metadata",
                metadata.map { m in
                    object([
                        ("name", .string(m.name)), ("description", m.description.map(OrderedJSON.string)),
                        ("version", .string(m.version)), ("authors", m.authors.map(OrderedJSON.strings)),
                        ("homepage", m.homepage.map(OrderedJSON.string))
                    ])
                }
            ),
            (
                "payload",
                .array(
                    payload.map { p in
                        object([
                            (
                                "platform",
                                p.platform.map { pl in
                                    object([
                                        ("arch", .string(pl.arch)), ("os", .string(pl.os)),
                                        ("osVersion", pl.osVersion.map(OrderedJSON.string))
                                    ])
                                }
                            ),
                            ("urls", .strings(p.urls)), ("hash", .string(p.hash))
                        ])
                    })
            ),
            (
                "compManifest",
                compManifest.map { c in
                    object([
                        ("version", .string(c.version)),
                        (
                            "script",
                            c.script.map { s in object([("commands", .strings(s.commands)), ("match", .string(s.match.rawValue))]) }
                        ),
                        (
                            "net",
                            c.net.map { n in
                                object([
                                    (
                                        "inet",
                                        n.inet.map { i in
                                            object([
                                                (
                                                    "out",
                                                    i.out.map { o in
                                                        switch o.access {
                                                        case .urls(let urls):
                                                            return object([("protocols", .strings(o.protocols)), ("urls", .strings(urls))])
                                                        case .unrestricted:
                                                            return object([
                                                                ("protocols", .strings(o.protocols)),
                                                                ("unrestricted", object([("urls", .bool(true))]))
                                                            ])
                                                        }
                                                    }
                                                )
                                            ])
                                        }
                                    )
                                ])
                            }
                        )
                    ])
                }
            )
        ])
    }
}
