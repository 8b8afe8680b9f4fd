//! The compiler: from `sqlparser`'s AST to a [`Plan`], checking every construct against the subset.
//!
//! A plan is what the pipeline needs: the window (`TUMBLE`, `HOP` or `SESSION`), the event-time expression,
//! the `WHERE` filter, the grouping keys, the aggregate calls and the output columns. CTEs and
//! subqueries in `FROM` are inlined: each of their columns becomes an expression over the visit
//! record, and their `WHERE` clauses join the filter. Anything the subset does not cover is refused
//! here with a [`SqlError`] that points at it; nothing is silently ignored. Building the pipeline
//! from a plan is [`crate::compile`]'s business.

use pipeline::time::{Duration, Timestamp};
use sqlparser::ast::{
    self, BinaryOperator, CastKind, DataType, DateTimeField, DuplicateTreatment, FunctionArg, FunctionArgExpr,
    FunctionArguments, GroupByExpr, ObjectName, ObjectNamePart, Query, Select, SelectFlavor, SelectItem, SetExpr,
    Spanned, Statement, TableFactor, TimezoneInfo, UnaryOperator, Value,
};
use sqlparser::dialect::GenericDialect;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::{Location, Span};

use crate::aggregate::Aggregate;
use crate::error::{did_you_mean, supported, QueryLocation, QueryText, SqlError};
use crate::expr::{Comparison, Conversion, Expr, LikePattern};
use crate::schema::Field;
use crate::value::{SqlType, SqlValue};

/// The window of the `GROUP BY`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WindowSpec {
    /// `TUMBLE(ts, size)`: Beam's `FixedWindows`.
    Tumble { size: Duration },
    /// `HOP(ts, slide, size)`: Beam's `SlidingWindows` of `size` every `slide`.
    Hop { slide: Duration, size: Duration },
    /// `SESSION(ts, gap)`: Beam's `Sessions.withGapDuration(gap)`, per group.
    Session { gap: Duration },
}

/// What an output column reads besides literals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OutputLeaf {
    /// The i-th `GROUP BY` column.
    Key(usize),
    WindowStart,
    WindowEnd,
    /// The i-th aggregate call.
    Aggregate(usize),
}

/// A compiled query.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub(crate) window: WindowSpec,
    /// The event time: the window function's time column, a `TIMESTAMP` read from the event.
    pub(crate) time: Expr<Field>,
    /// The conjunction of every `WHERE` on the way from the input to the outer query.
    pub(crate) filter: Option<Expr<Field>>,
    pub(crate) keys: Vec<Expr<Field>>,
    /// Each call with its argument (`None` for `COUNT(*)`).
    pub(crate) aggregates: Vec<(Aggregate, Option<Expr<Field>>)>,
    pub(crate) columns: Vec<String>,
    pub(crate) outputs: Vec<Expr<OutputLeaf>>,
}

/// A type-checked expression with its type.
#[derive(Debug, Clone)]
struct Typed<L> {
    expr: Expr<L>,
    ty: SqlType,
}

/// A relation in scope: the input table, a CTE or a subquery, as expressions over the visit record.
#[derive(Debug, Clone)]
struct Relation {
    /// The names a column may be qualified with (the table name, or its alias).
    qualifier: String,
    columns: Vec<Column>,
    filter: Option<Expr<Field>>,
}

#[derive(Debug, Clone)]
struct Column {
    name: String,
    expr: Expr<Field>,
    ty: SqlType,
}

/// Two expressions of one type, the sides of a comparison.
type Pair<L> = (Expr<L>, Expr<L>);

/// The CTEs in scope, latest last.
type Ctes = Vec<(String, Relation)>;

/// The most windows a `HOP` may put one event in (its size over its slide).
pub const MAX_HOP_WINDOWS_PER_EVENT: i64 = 1_000;

/// A window function call, `TUMBLE(...)` or `HOP(...)` or one of their `_START`/`_END` forms.
#[derive(Debug, Clone)]
struct WindowCall {
    spec: WindowSpec,
    time: Expr<Field>,
    /// The call as written, for messages.
    text: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WindowKind {
    Tumble,
    Hop,
    Session,
}

/// Which window function a name is: the kind and, for `_START`/`_END`, which bound it reads.
fn window_function(name: &str) -> Option<(WindowKind, Option<OutputLeaf>)> {
    Some(match name {
        "TUMBLE" => (WindowKind::Tumble, None),
        "TUMBLE_START" => (WindowKind::Tumble, Some(OutputLeaf::WindowStart)),
        "TUMBLE_END" => (WindowKind::Tumble, Some(OutputLeaf::WindowEnd)),
        "HOP" => (WindowKind::Hop, None),
        "HOP_START" => (WindowKind::Hop, Some(OutputLeaf::WindowStart)),
        "HOP_END" => (WindowKind::Hop, Some(OutputLeaf::WindowEnd)),
        "SESSION" => (WindowKind::Session, None),
        "SESSION_START" => (WindowKind::Session, Some(OutputLeaf::WindowStart)),
        "SESSION_END" => (WindowKind::Session, Some(OutputLeaf::WindowEnd)),
        _ => return None,
    })
}

const AGGREGATES: [&str; 5] = ["COUNT", "SUM", "MIN", "MAX", "AVG"];

/// Parses and compiles `query`, whose input relation is called `table`.
pub(crate) fn plan(query: &str, table: &str) -> Result<Plan, SqlError> {
    let text = QueryText::new(query);
    let statements = Parser::parse_sql(&GenericDialect {}, query).map_err(|e| SqlError::syntax(&text, e))?;
    let compiler = Compiler { text, table };
    let query = match statements.as_slice() {
        [] => {
            return Err(SqlError::NotOneQuery {
                found: "no statement".to_owned(),
                at: QueryLocation::unknown(),
            })
        }
        [Statement::Query(query)] => query,
        [other] => {
            let kind = other.to_string().split_whitespace().next().unwrap_or("").to_uppercase();
            let article = if kind.starts_with(['A', 'E', 'I', 'O', 'U']) {
                "an"
            } else {
                "a"
            };
            return Err(SqlError::NotOneQuery {
                found: format!("{article} {kind} statement"),
                at: compiler.at(other.span()),
            });
        }
        [_, second, ..] => {
            return Err(SqlError::NotOneQuery {
                found: format!("{} statements", statements.len()),
                at: compiler.at(second.span()),
            })
        }
    };
    compiler.outer_query(query)
}

struct Compiler<'q> {
    text: QueryText<'q>,
    table: &'q str,
}

impl Compiler<'_> {
    fn at(&self, span: Span) -> QueryLocation {
        self.text.locate(span)
    }

    fn unsupported(&self, construct: impl Into<String>, supported: &'static str, span: Span) -> SqlError {
        SqlError::Unsupported {
            construct: construct.into(),
            supported,
            at: self.at(span),
        }
    }

    fn type_error(&self, message: impl Into<String>, span: Span) -> SqlError {
        SqlError::Type {
            message: message.into(),
            at: self.at(span),
        }
    }

    /// The span of the first occurrence of `keyword` at or after `from`, or `fallback`.
    fn keyword(&self, keyword: &str, from: Location, fallback: Span) -> Span {
        self.text.find_keyword(keyword, from).unwrap_or(fallback)
    }

    /// A better span than `sqlparser`'s for some nodes: a `CAST` or `INTERVAL` from its keyword.
    fn span_of(&self, e: &ast::Expr) -> Span {
        let span = e.span();
        let keyword = match e {
            ast::Expr::Cast { .. } => "CAST",
            ast::Expr::Interval(_) => "INTERVAL",
            _ => return span,
        };
        match self.text.find_keyword_before(keyword, span.start) {
            Some(k) => Span::new(k.start, span.end),
            None => span,
        }
    }

    // ---- Queries and their clauses ----

    /// The query the pipeline runs: an aggregation over a window.
    fn outer_query(&self, query: &Query) -> Result<Plan, SqlError> {
        self.check_query_clauses(query)?;
        let ctes = self.with_clause(query, &Vec::new())?;
        match query.body.as_ref() {
            SetExpr::Select(select) => self.aggregation(select, &ctes),
            other => Err(self.set_expr_error(other)),
        }
    }

    /// A CTE body or a subquery in `FROM`: a projection with an optional filter.
    fn relation_of(&self, query: &Query, ctes: &Ctes) -> Result<Relation, SqlError> {
        self.check_query_clauses(query)?;
        let ctes = self.with_clause(query, ctes)?;
        match query.body.as_ref() {
            SetExpr::Select(select) => self.projection(select, &ctes),
            other => Err(self.set_expr_error(other)),
        }
    }

    fn set_expr_error(&self, body: &SetExpr) -> SqlError {
        match body {
            SetExpr::SetOperation { op, left, .. } => {
                let word = op.to_string();
                let span = self.keyword(&word, left.span().end, body.span());
                self.unsupported(word, supported::QUERY, span)
            }
            SetExpr::Values(_) => self.unsupported("VALUES", supported::QUERY, body.span()),
            SetExpr::Query(q) => self.unsupported("a parenthesized query body", supported::QUERY, q.span()),
            _ => self.unsupported(format!("`{body}`"), supported::QUERY, body.span()),
        }
    }

    fn check_query_clauses(&self, query: &Query) -> Result<(), SqlError> {
        let start = query.span().start;
        let fallback = query.span();
        if let Some(order_by) = &query.order_by {
            let span = self.keyword("ORDER BY", start, order_by.span());
            return Err(self.unsupported("ORDER BY", supported::SELECT, span));
        }
        if query.limit_clause.is_some() {
            let span = self.keyword("LIMIT", start, self.keyword("OFFSET", start, fallback));
            return Err(self.unsupported("LIMIT/OFFSET", supported::SELECT, span));
        }
        if query.fetch.is_some() {
            return Err(self.unsupported("FETCH", supported::SELECT, self.keyword("FETCH", start, fallback)));
        }
        if !query.locks.is_empty() || query.for_clause.is_some() {
            return Err(self.unsupported("FOR ...", supported::SELECT, self.keyword("FOR", start, fallback)));
        }
        if query.settings.is_some() || query.format_clause.is_some() || !query.pipe_operators.is_empty() {
            return Err(self.unsupported("SETTINGS, FORMAT or pipe operators", supported::SELECT, fallback));
        }
        Ok(())
    }

    /// The CTEs of `query` added to those in scope.
    fn with_clause(&self, query: &Query, outer: &Ctes) -> Result<Ctes, SqlError> {
        let mut ctes = outer.clone();
        let Some(with) = &query.with else {
            return Ok(ctes);
        };
        if with.recursive {
            return Err(self.unsupported(
                "WITH RECURSIVE",
                supported::QUERY,
                self.keyword("WITH RECURSIVE", with.with_token.0.span.start, with.with_token.0.span),
            ));
        }
        for cte in &with.cte_tables {
            if !cte.alias.columns.is_empty() {
                return Err(self.unsupported(
                    "a column list on a CTE",
                    "WITH name AS (SELECT x AS a, y AS b ...): name the columns in the SELECT",
                    cte.alias.span(),
                ));
            }
            if cte.materialized.is_some() || cte.from.is_some() {
                return Err(self.unsupported("this CTE form", supported::QUERY, cte.alias.span()));
            }
            let mut relation = self.relation_of(&cte.query, &ctes)?;
            relation.qualifier = cte.alias.name.value.clone();
            ctes.push((cte.alias.name.value.clone(), relation));
        }
        Ok(ctes)
    }

    fn check_select_clauses(&self, select: &Select) -> Result<(), SqlError> {
        let start = select.select_token.0.span.start;
        let fallback = select.select_token.0.span;
        let refuse = |what: &str, keyword: &str, span: Option<Span>| {
            let span = self.keyword(keyword, start, span.unwrap_or(fallback));
            Err(self.unsupported(what, supported::SELECT, span))
        };
        if select.flavor != SelectFlavor::Standard {
            return refuse("FROM before SELECT", "FROM", None);
        }
        if let Some(distinct) = &select.distinct {
            return match distinct {
                ast::Distinct::All => refuse("SELECT ALL", "ALL", None),
                _ => refuse("SELECT DISTINCT", "DISTINCT", None),
            };
        }
        if select.top.is_some() {
            return refuse("TOP", "TOP", None);
        }
        if select.into.is_some() {
            return refuse("SELECT INTO", "INTO", None);
        }
        if let Some(having) = &select.having {
            return refuse("HAVING", "HAVING", Some(having.span()));
        }
        if !select.named_window.is_empty() {
            return refuse("WINDOW", "WINDOW", None);
        }
        if let Some(qualify) = &select.qualify {
            return refuse("QUALIFY", "QUALIFY", Some(qualify.span()));
        }
        if !select.sort_by.is_empty() || !select.cluster_by.is_empty() || !select.distribute_by.is_empty() {
            return refuse("SORT/CLUSTER/DISTRIBUTE BY", "BY", None);
        }
        if !select.lateral_views.is_empty() {
            return refuse("LATERAL VIEW", "LATERAL", None);
        }
        if select.prewhere.is_some() {
            return refuse("PREWHERE", "PREWHERE", None);
        }
        if !select.connect_by.is_empty() {
            return refuse("CONNECT BY", "CONNECT", None);
        }
        if select.exclude.is_some() {
            return refuse("EXCLUDE", "EXCLUDE", None);
        }
        if select.select_modifiers.is_some() || !select.optimizer_hints.is_empty() || select.value_table_mode.is_some()
        {
            return refuse("SELECT modifiers and hints", "SELECT", None);
        }
        Ok(())
    }

    /// The one relation in `FROM`.
    fn source_relation(&self, select: &Select, ctes: &Ctes) -> Result<Relation, SqlError> {
        let select_span = select.select_token.0.span;
        let table = match select.from.as_slice() {
            [] => return Err(self.unsupported("SELECT without FROM", supported::TABLE, select_span)),
            [table] => table,
            [_, second, ..] => {
                return Err(self.unsupported("more than one table in FROM (a join)", supported::TABLE, second.span()))
            }
        };
        if let Some(join) = table.joins.first() {
            let span = self
                .text
                .find_keyword_before("JOIN", join.relation.span().start)
                .unwrap_or(join.relation.span());
            return Err(self.unsupported("JOIN", supported::TABLE, span));
        }
        match &table.relation {
            TableFactor::Table {
                name,
                alias,
                args: None,
                with_hints,
                version: None,
                with_ordinality: false,
                partitions,
                json_path: None,
                sample: None,
                index_directives,
                inheritance: None,
            } if with_hints.is_empty() && partitions.is_empty() && index_directives.is_empty() => {
                let mut relation = self.named_relation(name, ctes)?;
                if let Some(alias) = alias {
                    relation.qualifier = self.table_alias(alias)?;
                }
                Ok(relation)
            }
            TableFactor::Derived {
                lateral: false,
                subquery,
                alias,
                sample: None,
            } => {
                let mut relation = self.relation_of(subquery, ctes)?;
                relation.qualifier = match alias {
                    Some(alias) => self.table_alias(alias)?,
                    None => String::new(),
                };
                Ok(relation)
            }
            other => Err(self.unsupported(format!("FROM item `{other}`"), supported::TABLE, other.span())),
        }
    }

    fn table_alias(&self, alias: &ast::TableAlias) -> Result<String, SqlError> {
        if !alias.columns.is_empty() || alias.at.is_some() {
            return Err(self.unsupported("a column list on a table alias", supported::TABLE, alias.span()));
        }
        Ok(alias.name.value.clone())
    }

    fn named_relation(&self, name: &ObjectName, ctes: &Ctes) -> Result<Relation, SqlError> {
        let ident = match name.0.as_slice() {
            [ObjectNamePart::Identifier(ident)] => ident,
            _ => return Err(self.unsupported(format!("qualified table name `{name}`"), supported::TABLE, name.span())),
        };
        if let Some((_, relation)) = ctes.iter().rev().find(|(n, _)| *n == ident.value) {
            return Ok(relation.clone());
        }
        if ident.value == self.table {
            return Ok(self.input_relation());
        }
        let known: Vec<&str> = std::iter::once(self.table)
            .chain(ctes.iter().map(|(n, _)| n.as_str()))
            .collect();
        Err(SqlError::UnknownTable {
            name: ident.value.clone(),
            hint: did_you_mean(&ident.value, known.iter().copied()),
            known: known.join(", "),
            at: self.at(ident.span),
        })
    }

    fn input_relation(&self) -> Relation {
        Relation {
            qualifier: self.table.to_owned(),
            columns: Field::ALL
                .iter()
                .map(|f| Column {
                    name: f.name().to_owned(),
                    expr: Expr::Leaf(*f),
                    ty: f.sql_type(),
                })
                .collect(),
            filter: None,
        }
    }

    /// The filter of `relation` and-ed with the `WHERE` of `select`, if any.
    fn filter(&self, select: &Select, relation: &Relation) -> Result<Option<Expr<Field>>, SqlError> {
        let Some(condition) = &select.selection else {
            return Ok(relation.filter.clone());
        };
        let typed = self.translate(
            &mut InputScope {
                relation,
                place: "WHERE",
            },
            condition,
        )?;
        if !matches!(typed.ty, SqlType::Boolean | SqlType::Null) {
            return Err(self.type_error(
                format!("WHERE needs a BOOLEAN condition, got {}", typed.ty),
                self.span_of(condition),
            ));
        }
        Ok(Some(match relation.filter.clone() {
            Some(inner) => Expr::And(Box::new(inner), Box::new(typed.expr)),
            None => typed.expr,
        }))
    }

    /// A `SELECT` without aggregation: a CTE body or a subquery.
    fn projection(&self, select: &Select, ctes: &Ctes) -> Result<Relation, SqlError> {
        self.check_select_clauses(select)?;
        let source = self.source_relation(select, ctes)?;
        match &select.group_by {
            GroupByExpr::Expressions(exprs, modifiers) if exprs.is_empty() && modifiers.is_empty() => {}
            group_by => {
                let span = self.keyword("GROUP BY", select.select_token.0.span.start, group_by.span());
                return Err(self.unsupported(
                    "GROUP BY in a CTE or subquery",
                    "aggregation in the outermost SELECT only; CTEs and subqueries project and filter",
                    span,
                ));
            }
        }
        let filter = self.filter(select, &source)?;
        let mut columns: Vec<Column> = Vec::new();
        let mut spans: Vec<Span> = Vec::new();
        for (i, item) in select.projection.iter().enumerate() {
            match item {
                SelectItem::Wildcard(options) => {
                    self.check_wildcard(options)?;
                    columns.extend(source.columns.iter().cloned());
                    spans.extend(source.columns.iter().map(|_| item.span()));
                }
                SelectItem::QualifiedWildcard(kind, options) => {
                    self.check_wildcard(options)?;
                    match kind {
                        ast::SelectItemQualifiedWildcardKind::ObjectName(name)
                            if name.0.len() == 1 && name.to_string() == source.qualifier => {}
                        _ => {
                            return Err(self.unsupported(
                                format!("`{item}`"),
                                "`*` or `<table>.*` of the table in FROM",
                                item.span(),
                            ))
                        }
                    }
                    columns.extend(source.columns.iter().cloned());
                    spans.extend(source.columns.iter().map(|_| item.span()));
                }
                SelectItem::UnnamedExpr(e) => {
                    let typed = self.translate(
                        &mut InputScope {
                            relation: &source,
                            place: "the SELECT list of a CTE or subquery",
                        },
                        e,
                    )?;
                    columns.push(Column {
                        name: derived_name(e, i),
                        expr: typed.expr,
                        ty: typed.ty,
                    });
                    spans.push(item.span());
                }
                SelectItem::ExprWithAlias { expr, alias } => {
                    let typed = self.translate(
                        &mut InputScope {
                            relation: &source,
                            place: "the SELECT list of a CTE or subquery",
                        },
                        expr,
                    )?;
                    columns.push(Column {
                        name: alias.value.clone(),
                        expr: typed.expr,
                        ty: typed.ty,
                    });
                    spans.push(alias.span);
                }
                other => return Err(self.unsupported(format!("`{other}`"), supported::SELECT, other.span())),
            }
        }
        self.check_unique(columns.iter().map(|c| c.name.as_str()), &spans)?;
        Ok(Relation {
            qualifier: String::new(),
            columns,
            filter,
        })
    }

    fn check_wildcard(&self, options: &ast::WildcardAdditionalOptions) -> Result<(), SqlError> {
        let ast::WildcardAdditionalOptions {
            wildcard_token,
            opt_ilike,
            opt_exclude,
            opt_except,
            opt_replace,
            opt_rename,
            opt_alias,
        } = options;
        if opt_ilike.is_some()
            || opt_exclude.is_some()
            || opt_except.is_some()
            || opt_replace.is_some()
            || opt_rename.is_some()
            || opt_alias.is_some()
        {
            return Err(self.unsupported("options on `*`", "a plain `*`", wildcard_token.0.span));
        }
        Ok(())
    }

    fn check_unique<'a>(&self, names: impl Iterator<Item = &'a str>, spans: &[Span]) -> Result<(), SqlError> {
        let mut seen: Vec<&str> = Vec::new();
        for (name, span) in names.zip(spans) {
            if seen.contains(&name) {
                return Err(SqlError::DuplicateColumn {
                    name: name.to_owned(),
                    at: self.at(*span),
                });
            }
            seen.push(name);
        }
        Ok(())
    }

    /// The outer `SELECT`: grouping by one window and some columns, aggregating, shaping the rows.
    fn aggregation(&self, select: &Select, ctes: &Ctes) -> Result<Plan, SqlError> {
        self.check_select_clauses(select)?;
        let source = self.source_relation(select, ctes)?;
        let filter = self.filter(select, &source)?;
        let select_span = select.select_token.0.span;
        let group_exprs = match &select.group_by {
            GroupByExpr::Expressions(exprs, modifiers) => {
                if let Some(modifier) = modifiers.first() {
                    return Err(self.unsupported(
                        format!("GROUP BY ... {modifier}"),
                        supported::GROUP_BY,
                        self.keyword("WITH", select_span.start, select.group_by.span()),
                    ));
                }
                exprs
            }
            GroupByExpr::All(_) => {
                return Err(self.unsupported(
                    "GROUP BY ALL",
                    supported::GROUP_BY,
                    self.keyword("GROUP BY ALL", select_span.start, select_span),
                ))
            }
        };
        if group_exprs.is_empty() {
            let aggregates = select.projection.iter().any(|item| match item {
                SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => calls_function(e),
                _ => false,
            });
            return Err(SqlError::MissingWindow {
                message: if aggregates {
                    "aggregate functions without GROUP BY".to_owned()
                } else {
                    "the query has no GROUP BY".to_owned()
                },
                at: self.at(select_span),
            });
        }

        let mut window: Option<WindowCall> = None;
        let mut keys: Vec<Expr<Field>> = Vec::new();
        for e in group_exprs {
            match e {
                ast::Expr::Function(f) => {
                    let name = function_name(f);
                    if let Some((kind, None)) = window_function(&name) {
                        let call = self.window_call(f, kind, &source)?;
                        if window.is_some() {
                            return Err(SqlError::MultipleWindows { at: self.at(f.span()) });
                        }
                        window = Some(call);
                        continue;
                    }
                    keys.push(
                        self.translate(
                            &mut InputScope {
                                relation: &source,
                                place: "GROUP BY",
                            },
                            e,
                        )?
                        .expr,
                    );
                }
                ast::Expr::Rollup(_) | ast::Expr::Cube(_) | ast::Expr::GroupingSets(_) => {
                    return Err(self.unsupported("ROLLUP, CUBE and GROUPING SETS", supported::GROUP_BY, e.span()))
                }
                _ => keys.push(
                    self.translate(
                        &mut InputScope {
                            relation: &source,
                            place: "GROUP BY",
                        },
                        e,
                    )?
                    .expr,
                ),
            }
        }
        let Some(window) = window else {
            return Err(SqlError::MissingWindow {
                message: "GROUP BY has no TUMBLE, HOP or SESSION".to_owned(),
                at: self.at(self.keyword("GROUP BY", select_span.start, select.group_by.span())),
            });
        };

        let mut scope = OutputScope {
            compiler: self,
            source: &source,
            keys: &keys,
            window: &window,
            aggregates: Vec::new(),
        };
        let mut columns = Vec::new();
        let mut outputs = Vec::new();
        let mut spans = Vec::new();
        for (i, item) in select.projection.iter().enumerate() {
            let (expr, name, span) = match item {
                SelectItem::UnnamedExpr(e) => (e, derived_name(e, i), item.span()),
                SelectItem::ExprWithAlias { expr, alias } => (expr, alias.value.clone(), alias.span),
                SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..) => {
                    return Err(self.unsupported(
                        "`*` in an aggregating SELECT",
                        "the GROUP BY columns, aggregates and window bounds, listed one by one",
                        item.span(),
                    ))
                }
                other => return Err(self.unsupported(format!("`{other}`"), supported::SELECT, other.span())),
            };
            outputs.push(self.translate(&mut scope, expr)?.expr);
            columns.push(name);
            spans.push(span);
        }
        self.check_unique(columns.iter().map(String::as_str), &spans)?;
        let aggregates = scope.aggregates;
        Ok(Plan {
            window: window.spec,
            time: window.time,
            filter,
            keys,
            aggregates,
            columns,
            outputs,
        })
    }

    // ---- Functions ----

    /// The arguments of a plain call `f(a, b)`; anything fancier is refused.
    fn plain_arguments<'f>(&self, f: &'f ast::Function) -> Result<Vec<&'f FunctionArgExpr>, SqlError> {
        let name = function_name(f);
        let end = f.span().end;
        if f.over.is_some() {
            return Err(self.unsupported(
                format!("window function `{name}(...) OVER (...)`"),
                "GROUP BY TUMBLE(...), HOP(...) or SESSION(...) windows",
                self.keyword("OVER", end, f.span()),
            ));
        }
        if let Some(filter) = &f.filter {
            return Err(self.unsupported("FILTER (WHERE ...)", supported::FUNCTION, filter.span()));
        }
        if f.null_treatment.is_some() || !f.within_group.is_empty() || f.uses_odbc_syntax {
            return Err(self.unsupported(format!("this form of {name}"), supported::FUNCTION, f.span()));
        }
        if !matches!(f.parameters, FunctionArguments::None) {
            return Err(self.unsupported("function parameters", supported::FUNCTION, f.span()));
        }
        let list = match &f.args {
            FunctionArguments::None => return Ok(Vec::new()),
            FunctionArguments::Subquery(q) => {
                return Err(self.unsupported("a subquery as argument", supported::FUNCTION, q.span()))
            }
            FunctionArguments::List(list) => list,
        };
        if list.duplicate_treatment == Some(DuplicateTreatment::Distinct) {
            return Err(self.unsupported(
                format!("{name}(DISTINCT ...)"),
                supported::FUNCTION,
                self.keyword("DISTINCT", f.name.span().end, f.span()),
            ));
        }
        if let Some(clause) = list.clauses.first() {
            return Err(self.unsupported(format!("`{clause}` in a function call"), supported::FUNCTION, f.span()));
        }
        list.args
            .iter()
            .map(|arg| match arg {
                FunctionArg::Unnamed(arg) => Ok(arg),
                other => Err(self.unsupported("named arguments", supported::FUNCTION, other.span())),
            })
            .collect()
    }

    /// `TUMBLE(ts, size)`, `HOP(ts, slide, size)` or `SESSION(ts, gap)`, or one of their `_START`/`_END`
    /// forms.
    fn window_call(&self, f: &ast::Function, kind: WindowKind, source: &Relation) -> Result<WindowCall, SqlError> {
        let name = function_name(f);
        let args = self.plain_arguments(f)?;
        let (expected, form) = match kind {
            WindowKind::Tumble => (2, "(ts, size)"),
            WindowKind::Hop => (3, "(ts, slide, size)"),
            WindowKind::Session => (2, "(ts, gap)"),
        };
        if args.len() == expected + 1 && kind != WindowKind::Session {
            return Err(self.unsupported(
                format!("the alignment argument of {name}"),
                supported::FUNCTION,
                args[expected].span(),
            ));
        }
        if args.len() != expected {
            return Err(self.type_error(
                format!("{name} takes {expected} arguments {form}, got {}", args.len()),
                f.span(),
            ));
        }
        let exprs: Vec<&ast::Expr> = args
            .iter()
            .map(|a| match a {
                FunctionArgExpr::Expr(e) => Ok(e),
                other => Err(self.type_error(format!("{name} takes {form}, got `{other}`"), other.span())),
            })
            .collect::<Result<_, _>>()?;
        let time = self.translate(
            &mut InputScope {
                relation: source,
                place: "the time column of a window",
            },
            exprs[0],
        )?;
        if time.ty != SqlType::Timestamp || time.expr.is_constant() {
            return Err(self.type_error(
                format!(
                    "the time column of {name} must be a TIMESTAMP read from the event, like \
                     CAST(event_datetime AS TIMESTAMP); got {} `{}`",
                    time.ty, exprs[0]
                ),
                self.span_of(exprs[0]),
            ));
        }
        let spec = match kind {
            WindowKind::Tumble => WindowSpec::Tumble {
                size: self.interval(exprs[1])?,
            },
            WindowKind::Hop => {
                let (slide, size) = (self.interval(exprs[1])?, self.interval(exprs[2])?);
                if slide > size {
                    return Err(SqlError::InvalidInterval {
                        message: format!(
                            "the slide of HOP ({slide}) is longer than its size ({size}): events between two \
                             windows would belong to none (HOP's arguments are ts, slide, size)"
                        ),
                        at: self.at(self.span_of(exprs[1]).union(&self.span_of(exprs[2]))),
                    });
                }
                // Every event of a HOP belongs to ceil(size / slide) windows: bound it, so that a query's
                // typo (`INTERVAL '36500' DAY`) is an error, not billions of windows per event.
                let per_event = (size.as_millis() + slide.as_millis() - 1) / slide.as_millis().max(1);
                if per_event > MAX_HOP_WINDOWS_PER_EVENT {
                    return Err(SqlError::InvalidInterval {
                        message: format!(
                            "HOP({slide}, {size}) puts every event in {per_event} windows; at most \
                             {MAX_HOP_WINDOWS_PER_EVENT} are supported (a longer slide or a shorter size)"
                        ),
                        at: self.at(self.span_of(exprs[1]).union(&self.span_of(exprs[2]))),
                    });
                }
                WindowSpec::Hop { slide, size }
            }
            WindowKind::Session => WindowSpec::Session {
                gap: self.interval(exprs[1])?,
            },
        };
        Ok(WindowCall {
            spec,
            time: time.expr,
            text: f.to_string(),
        })
    }

    /// `INTERVAL 'n' SECOND` (or MINUTE, HOUR, DAY) as a duration.
    fn interval(&self, e: &ast::Expr) -> Result<Duration, SqlError> {
        let span = self.span_of(e);
        let invalid = |message: String, span: Span| SqlError::InvalidInterval {
            message,
            at: self.at(span),
        };
        let ast::Expr::Interval(interval) = e else {
            return Err(invalid(format!("expected an INTERVAL, found `{e}`"), span));
        };
        let ast::Interval {
            value,
            leading_field,
            leading_precision,
            last_field,
            fractional_seconds_precision,
        } = interval;
        let span = match leading_field {
            Some(field) => self.keyword(&field.to_string(), value.span().end, span).union(&span),
            None => span,
        };
        if leading_precision.is_some() || last_field.is_some() || fractional_seconds_precision.is_some() {
            return Err(invalid(format!("`{e}` has a precision or a range"), span));
        }
        let text = match value.as_ref() {
            ast::Expr::Value(v) => match &v.value {
                Value::SingleQuotedString(s) | Value::Number(s, _) => s.trim(),
                _ => return Err(invalid(format!("the amount of `{e}` is not a number"), span)),
            },
            _ => return Err(invalid(format!("the amount of `{e}` is not a literal"), span)),
        };
        let unit_millis: i64 = match leading_field {
            Some(DateTimeField::Second | DateTimeField::Seconds) => 1000,
            Some(DateTimeField::Minute | DateTimeField::Minutes) => 60_000,
            Some(DateTimeField::Hour | DateTimeField::Hours) => 3_600_000,
            Some(DateTimeField::Day | DateTimeField::Days) => 86_400_000,
            Some(other) => return Err(invalid(format!("the unit {other} is not a fixed length of time"), span)),
            None => return Err(invalid(format!("`{e}` has no unit"), span)),
        };
        let amount: i64 = match text.parse::<i64>() {
            Ok(n) if n > 0 => n,
            _ => {
                return Err(invalid(
                    format!("the amount '{text}' is not a positive whole number"),
                    span,
                ))
            }
        };
        // A century bounds the window arithmetic of the core far from i64 overflow.
        const LONGEST: i64 = 36_500 * 86_400_000;
        match amount.checked_mul(unit_millis) {
            Some(ms) if ms <= LONGEST => Ok(Duration::millis(ms)),
            _ => Err(invalid(format!("`{e}` is longer than 36500 days"), span)),
        }
    }

    // ---- Scalar expressions ----

    /// Type-checks `e`, letting `scope` resolve columns and functions.
    fn translate<S: Scope>(&self, scope: &mut S, e: &ast::Expr) -> Result<Typed<S::Leaf>, SqlError> {
        if let Some(typed) = scope.resolve(self, e)? {
            return Ok(typed);
        }
        let boolean = |scope: &mut S, operand: &ast::Expr, what: &str| -> Result<Expr<S::Leaf>, SqlError> {
            let typed = self.translate(scope, operand)?;
            match typed.ty {
                SqlType::Boolean | SqlType::Null => Ok(typed.expr),
                other => Err(self.type_error(
                    format!("{what} needs a BOOLEAN operand, got {other}"),
                    self.span_of(operand),
                )),
            }
        };
        let boxed = Box::new;
        match e {
            ast::Expr::Nested(inner) => self.translate(scope, inner),
            ast::Expr::Value(v) => self.literal(&v.value, v.span).map(|v| Typed {
                ty: v.sql_type(),
                expr: Expr::Literal(v),
            }),
            ast::Expr::TypedString(typed) => {
                let timestamp = matches!(
                    typed.data_type,
                    DataType::Timestamp(None, TimezoneInfo::None | TimezoneInfo::WithoutTimeZone)
                );
                match (&typed.value.value, timestamp) {
                    (Value::SingleQuotedString(s), true) => Ok(Typed {
                        expr: Expr::Literal(SqlValue::Timestamp(self.timestamp_literal(s, typed.value.span)?)),
                        ty: SqlType::Timestamp,
                    }),
                    _ => Err(self.unsupported(
                        format!("{} literals", typed.data_type),
                        "TIMESTAMP 'YYYY-MM-DD HH:MM:SS[.fff]' literals",
                        self.text
                            .find_keyword_before(&first_word(&typed.data_type), typed.value.span.start)
                            .map_or(typed.value.span, |k| k.union(&typed.value.span)),
                    )),
                }
            }
            ast::Expr::Cast {
                kind,
                expr,
                data_type,
                format,
            } => self.cast(scope, e, kind, expr, data_type, format.is_some()),
            ast::Expr::UnaryOp { op, expr } => match op {
                UnaryOperator::Not => Ok(Typed {
                    expr: Expr::Not(boxed(boolean(scope, expr, "NOT")?)),
                    ty: SqlType::Boolean,
                }),
                UnaryOperator::Minus | UnaryOperator::Plus => {
                    if let (UnaryOperator::Minus, ast::Expr::Value(v)) = (op, expr.as_ref()) {
                        if let Value::Number(n, _) = &v.value {
                            // Fold `-9223372036854775808`, whose positive part is no BIGINT.
                            let v = self.number(&format!("-{n}"), v.span)?;
                            return Ok(Typed {
                                ty: v.sql_type(),
                                expr: Expr::Literal(v),
                            });
                        }
                    }
                    let typed = self.translate(scope, expr)?;
                    if !typed.ty.is_numeric() && typed.ty != SqlType::Null {
                        return Err(self.type_error(
                            format!("unary {op} needs a number, got {}", typed.ty),
                            self.span_of(expr),
                        ));
                    }
                    Ok(match op {
                        UnaryOperator::Minus => Typed {
                            expr: Expr::Negate(boxed(typed.expr)),
                            ty: typed.ty,
                        },
                        _ => typed,
                    })
                }
                other => Err(self.unsupported(format!("operator `{other}`"), supported::EXPRESSION, e.span())),
            },
            ast::Expr::BinaryOp { left, op, right } => {
                let comparison = match op {
                    BinaryOperator::And | BinaryOperator::Or => {
                        let (a, b) = (
                            boolean(scope, left, &op.to_string())?,
                            boolean(scope, right, &op.to_string())?,
                        );
                        let expr = match op {
                            BinaryOperator::And => Expr::And(boxed(a), boxed(b)),
                            _ => Expr::Or(boxed(a), boxed(b)),
                        };
                        return Ok(Typed {
                            expr,
                            ty: SqlType::Boolean,
                        });
                    }
                    BinaryOperator::Eq => Comparison::Eq,
                    BinaryOperator::NotEq => Comparison::NotEq,
                    BinaryOperator::Lt => Comparison::Lt,
                    BinaryOperator::LtEq => Comparison::LtEq,
                    BinaryOperator::Gt => Comparison::Gt,
                    BinaryOperator::GtEq => Comparison::GtEq,
                    other => {
                        return Err(self.unsupported(
                            format!("operator `{other}`"),
                            supported::EXPRESSION,
                            self.span_of(left).union(&self.span_of(right)),
                        ))
                    }
                };
                let (a, b) = self.comparable(scope, left, right, e)?;
                Ok(Typed {
                    expr: Expr::Compare(comparison, boxed(a), boxed(b)),
                    ty: SqlType::Boolean,
                })
            }
            ast::Expr::IsNull(inner) | ast::Expr::IsNotNull(inner) => Ok(Typed {
                expr: Expr::IsNull(
                    boxed(self.translate(scope, inner)?.expr),
                    matches!(e, ast::Expr::IsNotNull(_)),
                ),
                ty: SqlType::Boolean,
            }),
            ast::Expr::IsTrue(inner)
            | ast::Expr::IsNotTrue(inner)
            | ast::Expr::IsFalse(inner)
            | ast::Expr::IsNotFalse(inner) => {
                let value = matches!(e, ast::Expr::IsTrue(_) | ast::Expr::IsNotTrue(_));
                let negated = matches!(e, ast::Expr::IsNotTrue(_) | ast::Expr::IsNotFalse(_));
                Ok(Typed {
                    expr: Expr::IsBoolean(boxed(boolean(scope, inner, "IS TRUE/FALSE")?), value, negated),
                    ty: SqlType::Boolean,
                })
            }
            ast::Expr::Between {
                expr,
                negated,
                low,
                high,
            } => {
                let (x, low) = self.comparable(scope, expr, low, e)?;
                let (_, high) = self.comparable(scope, expr, high, e)?;
                Ok(Typed {
                    expr: Expr::Between {
                        expr: boxed(x),
                        low: boxed(low),
                        high: boxed(high),
                        negated: *negated,
                    },
                    ty: SqlType::Boolean,
                })
            }
            ast::Expr::In {
                expr,
                target: ast::InTarget::List(list),
                negated,
                global: false,
            } => {
                let x = self.translate(scope, expr)?;
                let mut items = Vec::with_capacity(list.len());
                for item in list {
                    items.push(self.comparable(scope, expr, item, e)?.1);
                }
                Ok(Typed {
                    expr: Expr::InList {
                        expr: boxed(x.expr),
                        list: items,
                        negated: *negated,
                    },
                    ty: SqlType::Boolean,
                })
            }
            ast::Expr::Like {
                negated,
                any: false,
                expr,
                pattern,
                escape_char: None,
            } => {
                let x = self.translate(scope, expr)?;
                if !matches!(x.ty, SqlType::Varchar | SqlType::Null) {
                    return Err(self.type_error(format!("LIKE needs a VARCHAR, got {}", x.ty), self.span_of(expr)));
                }
                let pattern = match pattern.as_ref() {
                    ast::Expr::Value(v) => match &v.value {
                        Value::SingleQuotedString(p) => LikePattern::new(p),
                        _ => {
                            return Err(self.type_error("the pattern of LIKE must be a 'text' literal", v.span));
                        }
                    },
                    other => {
                        return Err(self.unsupported(
                            "a LIKE pattern that is not a literal",
                            "x LIKE 'pattern' with % and _",
                            self.span_of(other),
                        ))
                    }
                };
                Ok(Typed {
                    expr: Expr::Like {
                        expr: boxed(x.expr),
                        pattern,
                        negated: *negated,
                    },
                    ty: SqlType::Boolean,
                })
            }
            ast::Expr::Like { .. } => Err(self.unsupported(
                "LIKE ANY or LIKE ... ESCAPE",
                "x [NOT] LIKE 'pattern' with % and _",
                e.span(),
            )),
            ast::Expr::Interval(_) => Err(self.unsupported(
                "INTERVAL outside TUMBLE, HOP and SESSION",
                supported::FUNCTION,
                self.span_of(e),
            )),
            other => Err(self.unsupported(
                describe(other),
                supported::EXPRESSION,
                match other.span() {
                    s if s.start.line == 0 => self.keyword(&first_word(other), Location::new(1, 1), s),
                    s => s,
                },
            )),
        }
    }

    /// Both sides of a comparison, checked to compare; a 'text' literal compared with a `TIMESTAMP`
    /// is read as a timestamp, as Calcite coerces it.
    fn comparable<S: Scope>(
        &self,
        scope: &mut S,
        left: &ast::Expr,
        right: &ast::Expr,
        whole: &ast::Expr,
    ) -> Result<Pair<S::Leaf>, SqlError> {
        let (mut a, mut b) = (self.translate(scope, left)?, self.translate(scope, right)?);
        let (a_ty, b_ty) = (a.ty, b.ty);
        for (x, other, side) in [(&mut a, b_ty, left), (&mut b, a_ty, right)] {
            if let (Expr::Literal(SqlValue::Varchar(text)), SqlType::Timestamp) = (&x.expr, other) {
                let t = self.timestamp_literal(text, side.span())?;
                *x = Typed {
                    expr: Expr::Literal(SqlValue::Timestamp(t)),
                    ty: SqlType::Timestamp,
                };
            }
        }
        if !a.ty.comparable_with(b.ty) {
            return Err(self.type_error(format!("cannot compare {} with {}", a.ty, b.ty), self.span_of(whole)));
        }
        Ok((a.expr, b.expr))
    }

    fn cast<S: Scope>(
        &self,
        scope: &mut S,
        whole: &ast::Expr,
        kind: &CastKind,
        inner: &ast::Expr,
        data_type: &DataType,
        has_format: bool,
    ) -> Result<Typed<S::Leaf>, SqlError> {
        let span = self.span_of(whole);
        match kind {
            CastKind::Cast if !has_format => {}
            CastKind::Cast => return Err(self.unsupported("CAST ... FORMAT", supported::CAST, span)),
            CastKind::TryCast => return Err(self.unsupported("TRY_CAST", supported::CAST, span)),
            CastKind::SafeCast => return Err(self.unsupported("SAFE_CAST", supported::CAST, span)),
            CastKind::DoubleColon => return Err(self.unsupported("`::` casts", supported::CAST, span)),
        }
        let type_span = self.keyword(&first_word(data_type), inner.span().end, span);
        let to = match data_type {
            DataType::Varchar(None) | DataType::CharacterVarying(None) | DataType::CharVarying(None) => {
                SqlType::Varchar
            }
            DataType::BigInt(None) => SqlType::Bigint,
            DataType::Double(ast::ExactNumberInfo::None) | DataType::DoublePrecision => SqlType::Double,
            DataType::Boolean | DataType::Bool => SqlType::Boolean,
            DataType::Timestamp(None, TimezoneInfo::None | TimezoneInfo::WithoutTimeZone) => SqlType::Timestamp,
            other => return Err(self.unsupported(format!("type {other}"), supported::TYPE, type_span)),
        };
        let operand = self.translate(scope, inner)?;
        let from = operand.ty;
        let expr = match (from, to) {
            _ if from == to => operand.expr,
            (SqlType::Null, _) => Expr::Literal(SqlValue::Null),
            (SqlType::Varchar, SqlType::Timestamp) => match &operand.expr {
                Expr::Literal(SqlValue::Varchar(text)) => {
                    Expr::Literal(SqlValue::Timestamp(self.timestamp_literal(text, inner.span())?))
                }
                Expr::Leaf(leaf) if scope.is_datetime_text(leaf) => {
                    Expr::Cast(Box::new(operand.expr), Conversion::ParseTimestamp)
                }
                _ => return Err(self.unsupported(format!("CAST(`{inner}` AS TIMESTAMP)"), supported::CAST, span)),
            },
            (SqlType::Bigint | SqlType::Timestamp, SqlType::Varchar) => {
                Expr::Cast(Box::new(operand.expr), Conversion::ToVarchar)
            }
            (SqlType::Bigint, SqlType::Double) => Expr::Cast(Box::new(operand.expr), Conversion::BigintToDouble),
            _ => return Err(self.unsupported(format!("CAST from {from} to {to}"), supported::CAST, span)),
        };
        Ok(Typed { expr, ty: to })
    }

    fn literal(&self, value: &Value, span: Span) -> Result<SqlValue, SqlError> {
        match value {
            Value::Number(n, false) => self.number(n, span),
            Value::SingleQuotedString(s) => Ok(SqlValue::Varchar(s.clone())),
            Value::Boolean(b) => Ok(SqlValue::Boolean(*b)),
            Value::Null => Ok(SqlValue::Null),
            other => Err(self.unsupported(format!("the literal {other}"), supported::EXPRESSION, span)),
        }
    }

    /// An integer literal is a `BIGINT`; one with a point or an exponent a `DOUBLE` (Calcite would
    /// make it a `DECIMAL`).
    fn number(&self, text: &str, span: Span) -> Result<SqlValue, SqlError> {
        let invalid = |message: String| SqlError::InvalidLiteral {
            message,
            at: self.at(span),
        };
        if text.contains(['.', 'e', 'E']) {
            match text.parse::<f64>() {
                Ok(x) if x.is_finite() => Ok(SqlValue::Double(x)),
                _ => Err(invalid(format!("{text} is not a finite DOUBLE"))),
            }
        } else {
            text.parse::<i64>()
                .map(SqlValue::Bigint)
                .map_err(|_| invalid(format!("{text} does not fit a BIGINT")))
        }
    }

    fn timestamp_literal(&self, text: &str, span: Span) -> Result<Timestamp, SqlError> {
        Timestamp::parse_datetime(text).map_err(|e| SqlError::InvalidLiteral {
            message: e.to_string(),
            at: self.at(span),
        })
    }
}

/// How names and functions resolve where an expression stands.
trait Scope {
    type Leaf: Clone + PartialEq + std::fmt::Debug;
    /// A first look at every node: `Some` when the scope resolves it itself (columns, functions).
    fn resolve(&mut self, compiler: &Compiler<'_>, e: &ast::Expr) -> Result<Option<Typed<Self::Leaf>>, SqlError>;
    /// True for the raw `event_datetime` text: the one `VARCHAR` that may become a `TIMESTAMP`.
    fn is_datetime_text(&self, leaf: &Self::Leaf) -> bool;
}

/// Expressions over the rows of a relation: `WHERE`, `GROUP BY`, aggregate arguments, CTE columns.
struct InputScope<'r> {
    relation: &'r Relation,
    /// Where the expression stands, for messages: "WHERE", "GROUP BY", ...
    place: &'static str,
}

impl Scope for InputScope<'_> {
    type Leaf = Field;

    fn resolve(&mut self, compiler: &Compiler<'_>, e: &ast::Expr) -> Result<Option<Typed<Field>>, SqlError> {
        let ident = match e {
            ast::Expr::Identifier(ident) => ident,
            ast::Expr::CompoundIdentifier(parts) => match parts.as_slice() {
                [qualifier, column] if qualifier.value == self.relation.qualifier => column,
                [qualifier, _] => {
                    return Err(SqlError::UnknownTable {
                        name: qualifier.value.clone(),
                        hint: did_you_mean(&qualifier.value, [self.relation.qualifier.as_str()]),
                        known: if self.relation.qualifier.is_empty() {
                            "(the subquery has no alias)".to_owned()
                        } else {
                            self.relation.qualifier.clone()
                        },
                        at: compiler.at(qualifier.span),
                    })
                }
                _ => {
                    return Err(compiler.unsupported(
                        format!("the qualified name `{e}`"),
                        "column or table.column",
                        e.span(),
                    ))
                }
            },
            ast::Expr::Function(f) => return Err(function_not_here(compiler, f, self.place)),
            _ => return Ok(None),
        };
        match self.relation.columns.iter().find(|c| c.name == ident.value) {
            Some(column) => Ok(Some(Typed {
                expr: column.expr.clone(),
                ty: column.ty,
            })),
            None => {
                let names = self.relation.columns.iter().map(|c| c.name.as_str());
                Err(SqlError::UnknownColumn {
                    name: ident.value.clone(),
                    hint: did_you_mean(&ident.value, names.clone()),
                    known: names.collect::<Vec<_>>().join(", "),
                    at: compiler.at(ident.span),
                })
            }
        }
    }

    fn is_datetime_text(&self, leaf: &Field) -> bool {
        *leaf == Field::EventDatetime
    }
}

/// The error for a function where only scalar expressions may stand (`place`).
fn function_not_here(compiler: &Compiler<'_>, f: &ast::Function, place: &str) -> SqlError {
    let name = function_name(f);
    let construct = if AGGREGATES.contains(&name.as_str()) || window_function(&name).is_some() {
        format!("{name} in {place}")
    } else {
        format!("the function {name}")
    };
    compiler.unsupported(construct, supported::FUNCTION, f.span())
}

/// The output columns of the aggregating `SELECT`: grouped expressions, aggregates, window bounds.
struct OutputScope<'c, 'q> {
    compiler: &'c Compiler<'q>,
    source: &'c Relation,
    keys: &'c [Expr<Field>],
    window: &'c WindowCall,
    aggregates: Vec<(Aggregate, Option<Expr<Field>>)>,
}

impl OutputScope<'_, '_> {
    fn aggregate(&mut self, f: &ast::Function, name: &str) -> Result<Typed<OutputLeaf>, SqlError> {
        let compiler = self.compiler;
        let args = compiler.plain_arguments(f)?;
        let argument = match args.as_slice() {
            [FunctionArgExpr::Wildcard] => None,
            [FunctionArgExpr::Expr(e)] => Some((
                compiler.translate(
                    &mut InputScope {
                        relation: self.source,
                        place: "the argument of an aggregate",
                    },
                    e,
                )?,
                e,
            )),
            [other] => return Err(compiler.unsupported(format!("{name}({other})"), supported::FUNCTION, f.span())),
            _ => return Err(compiler.type_error(format!("{name} takes one argument, got {}", args.len()), f.span())),
        };
        let arg_type = argument.as_ref().map(|(t, _)| t.ty);
        let (call, ty) = match Aggregate::resolve(name, arg_type) {
            Some(Ok(resolved)) => resolved,
            Some(Err(message)) => {
                let span = argument.as_ref().map_or(f.span(), |(_, e)| compiler.span_of(e));
                return Err(compiler.type_error(message, span));
            }
            None => return Err(function_not_here(compiler, f, "the SELECT list")),
        };
        self.aggregates.push((call, argument.map(|(t, _)| t.expr)));
        Ok(Typed {
            expr: Expr::Leaf(OutputLeaf::Aggregate(self.aggregates.len() - 1)),
            ty,
        })
    }

    fn window_bound(
        &mut self,
        f: &ast::Function,
        kind: WindowKind,
        bound: OutputLeaf,
    ) -> Result<Typed<OutputLeaf>, SqlError> {
        let call = self.compiler.window_call(f, kind, self.source)?;
        if call.spec != self.window.spec || call.time != self.window.time {
            return Err(SqlError::WindowMismatch {
                function: call.text,
                window: self.window.text.clone(),
                at: self.compiler.at(f.span()),
            });
        }
        Ok(Typed {
            expr: Expr::Leaf(bound),
            ty: SqlType::Timestamp,
        })
    }
}

impl Scope for OutputScope<'_, '_> {
    type Leaf = OutputLeaf;

    fn resolve(&mut self, compiler: &Compiler<'_>, e: &ast::Expr) -> Result<Option<Typed<OutputLeaf>>, SqlError> {
        if let ast::Expr::Function(f) = e {
            let name = function_name(f);
            if AGGREGATES.contains(&name.as_str()) {
                return self.aggregate(f, &name).map(Some);
            }
            return match window_function(&name) {
                Some((kind, Some(bound))) => self.window_bound(f, kind, bound).map(Some),
                Some((_, None)) => Err(compiler.unsupported(
                    format!("{name}(...) in the SELECT list"),
                    "TUMBLE_START/TUMBLE_END, HOP_START/HOP_END or SESSION_START/SESSION_END for the window bounds",
                    f.span(),
                )),
                None => Err(function_not_here(compiler, f, "the SELECT list")),
            };
        }
        if calls_function(e) {
            return Ok(None);
        }
        // Without aggregates inside, the expression reads the input: it must be grouped, or be built
        // from grouped expressions and literals.
        let input = compiler.translate(
            &mut InputScope {
                relation: self.source,
                place: "the SELECT list",
            },
            e,
        )?;
        if let Some(i) = self.keys.iter().position(|k| *k == input.expr) {
            return Ok(Some(Typed {
                expr: Expr::Leaf(OutputLeaf::Key(i)),
                ty: input.ty,
            }));
        }
        if matches!(e, ast::Expr::Identifier(_) | ast::Expr::CompoundIdentifier(_)) {
            return Err(SqlError::NotGrouped {
                expr: e.to_string(),
                at: compiler.at(e.span()),
            });
        }
        Ok(None)
    }

    fn is_datetime_text(&self, leaf: &OutputLeaf) -> bool {
        matches!(leaf, OutputLeaf::Key(i) if self.keys[*i] == Expr::Leaf(Field::EventDatetime))
    }
}

/// The upper-case name of a function, or its full dotted name when qualified.
fn function_name(f: &ast::Function) -> String {
    f.name.to_string().to_uppercase()
}

/// True when a function call occurs in `e`, within the constructs the translator descends into.
fn calls_function(e: &ast::Expr) -> bool {
    match e {
        ast::Expr::Function(_) => true,
        ast::Expr::Nested(x)
        | ast::Expr::Cast { expr: x, .. }
        | ast::Expr::UnaryOp { expr: x, .. }
        | ast::Expr::IsNull(x)
        | ast::Expr::IsNotNull(x)
        | ast::Expr::IsTrue(x)
        | ast::Expr::IsNotTrue(x)
        | ast::Expr::IsFalse(x)
        | ast::Expr::IsNotFalse(x) => calls_function(x),
        ast::Expr::BinaryOp { left, right, .. } => calls_function(left) || calls_function(right),
        ast::Expr::Between { expr, low, high, .. } => {
            calls_function(expr) || calls_function(low) || calls_function(high)
        }
        ast::Expr::In {
            expr,
            target: ast::InTarget::List(list),
            ..
        } => calls_function(expr) || list.iter().any(calls_function),
        ast::Expr::Like { expr, pattern, .. } => calls_function(expr) || calls_function(pattern),
        _ => false,
    }
}

/// Calcite's name for an unaliased output column: the column's own name, else `EXPR$<position>`.
fn derived_name(e: &ast::Expr, position: usize) -> String {
    match e {
        ast::Expr::Identifier(ident) => ident.value.clone(),
        ast::Expr::CompoundIdentifier(parts) => parts.last().map_or_else(String::new, |p| p.value.clone()),
        _ => format!("EXPR${position}"),
    }
}

/// The first word of a node's SQL text, to find it in the query.
fn first_word(node: &impl std::fmt::Display) -> String {
    let text = node.to_string();
    text.split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .find(|w| !w.is_empty())
        .unwrap_or("")
        .to_owned()
}

/// A short name for an unsupported expression.
fn describe(e: &ast::Expr) -> String {
    let what = match e {
        ast::Expr::Case { .. } => "CASE",
        ast::Expr::Subquery(_) | ast::Expr::Exists { .. } | ast::Expr::In { .. } => "a subquery",
        ast::Expr::Extract { .. } => "EXTRACT",
        ast::Expr::Substring { .. } => "SUBSTRING",
        ast::Expr::Trim { .. } => "TRIM",
        ast::Expr::Position { .. } => "POSITION",
        ast::Expr::Ceil { .. } | ast::Expr::Floor { .. } => "CEIL/FLOOR",
        ast::Expr::AtTimeZone { .. } => "AT TIME ZONE",
        ast::Expr::ILike { .. } => "ILIKE",
        ast::Expr::SimilarTo { .. } | ast::Expr::RLike { .. } => "regular expression matching",
        ast::Expr::IsDistinctFrom(..) | ast::Expr::IsNotDistinctFrom(..) => "IS [NOT] DISTINCT FROM",
        _ => {
            let text = e.to_string();
            let short: String = text.chars().take(40).collect();
            let ellipsis = if short.len() < text.len() { "..." } else { "" };
            return format!("the expression `{short}{ellipsis}`");
        }
    };
    what.to_owned()
}
