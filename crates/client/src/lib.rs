//! The licensd SDK (see the Client API issue); empty until then.
