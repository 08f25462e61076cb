//! The coverage page's view state, read from and written to the URL query, so a
//! copied link reproduces exactly what the sender saw.

use leptos_router::params::ParamsMap;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ViewQuery {
    pub start: Option<String>,
    pub end: Option<String>,
    /// Processor codes; empty = all.
    pub processors: Vec<String>,
    /// `PDC:2021-11-10`
    pub cell: Option<String>,
    /// Failure category filter of the drill-down.
    pub category: Option<String>,
    /// Player search of the drill-down.
    pub search: Option<String>,
    /// Page offset of the failure rows, as typed in the URL (the server
    /// parses and bounds it, and answers 400 naming it when it cannot).
    pub offset: Option<String>,
    /// Page offset of the unaccounted players (same).
    pub unaccounted_offset: Option<String>,
}

/// Processor codes from `p`, which may repeat (checkboxes) or be a comma list
/// (links), in the order given, without repeats.
pub fn processor_codes(q: &ParamsMap) -> Vec<String> {
    let mut codes: Vec<String> = Vec::new();
    for code in q
        .get_all("p")
        .unwrap_or_default()
        .iter()
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        if !codes.iter().any(|c| c == code) {
            codes.push(code.to_string());
        }
    }
    codes
}

impl ViewQuery {
    pub fn from_params(q: &ParamsMap) -> Self {
        let nonempty = |k: &str| q.get(k).filter(|v| !v.trim().is_empty());
        let processors = processor_codes(q);
        Self {
            start: nonempty("start"),
            end: nonempty("end"),
            processors,
            cell: nonempty("cell"),
            category: nonempty("cat"),
            search: nonempty("q"),
            offset: nonempty("offset"),
            unaccounted_offset: nonempty("uoff"),
        }
    }

    /// Comma list for the server functions (`None` = all processors).
    pub fn processor_list(&self) -> Option<String> {
        (!self.processors.is_empty()).then(|| self.processors.join(","))
    }

    /// The page URL for this state.
    pub fn href(&self) -> String {
        let processors = (!self.processors.is_empty()).then(|| self.processors.join(","));
        let offset = self.offset.clone().filter(|o| o != "0");
        let uoffset = self.unaccounted_offset.clone().filter(|o| o != "0");
        let parts: Vec<(&str, &String)> = [
            ("start", &self.start),
            ("end", &self.end),
            ("p", &processors),
            ("cell", &self.cell),
            ("cat", &self.category),
            ("q", &self.search),
            ("offset", &offset),
            ("uoff", &uoffset),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| (k, v)))
        .collect();
        if parts.is_empty() {
            return "/".into();
        }
        let query = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(parts)
            .finish();
        format!("/?{query}")
    }

    pub fn with_cell(&self, cell: Option<String>) -> Self {
        Self {
            cell,
            category: None,
            search: None,
            offset: None,
            unaccounted_offset: None,
            ..self.clone()
        }
    }

    pub fn with_range(&self, start: &str, end: &str) -> Self {
        Self {
            start: Some(start.into()),
            end: Some(end.into()),
            ..self.with_cell(None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn processor_codes_accept_repeats_and_comma_lists() {
        let mut q = ParamsMap::new();
        q.insert("p", "PDC, PCF".into());
        q.insert("p", "PDC".into());
        q.insert("p", " ,MLFS".into());
        assert_eq!(processor_codes(&q), ["PDC", "PCF", "MLFS"]);
        assert!(processor_codes(&ParamsMap::new()).is_empty());
    }

    #[test]
    fn round_trips_through_the_url() {
        let v = ViewQuery {
            start: Some("2021-11-01".into()),
            end: Some("2021-11-30".into()),
            processors: vec!["PDC".into(), "PCF".into()],
            cell: Some("PDC:2021-11-10".into()),
            category: None,
            search: Some("a b&c".into()),
            offset: Some("50".into()),
            unaccounted_offset: Some("100".into()),
        };
        assert_eq!(
            v.href(),
            "/?start=2021-11-01&end=2021-11-30&p=PDC%2CPCF&cell=PDC%3A2021-11-10&q=a+b%26c&offset=50&uoff=100"
        );
        assert_eq!(ViewQuery::default().href(), "/");
    }
}
