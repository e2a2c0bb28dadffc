// Type-checks the committed dashboard JSON against Grafana's own schema types (@grafana/schema,
// the TypeScript generated from Grafana 11.6's CUE kinds). Run `npm run check` in this folder
// (= `tsc -p .`), or `npm --prefix grafana/schema-check run check` from the repository root. It
// emits nothing and fails on any type error.
//
// A plain `const d: Dashboard = json` is both too strict and too loose; three gaps are closed here:
//  1. TypeScript widens the literals of an imported JSON file ("mode": "absolute" is `string`), so
//     the schema's enums and literal unions can never match. `Widen` turns them into their base
//     type (string, number, boolean) on the schema side. Field names, nesting, required fields and
//     the type of every field are still checked; enum *values* are not.
//  2. Excess-property checks do not apply to an imported JSON value, so an unknown field would pass.
//     `Exact` maps every key the JSON has that the schema lacks to `never`, so it fails.
//  3. The schema types `options` and `fieldConfig.defaults.custom` as open records and `targets` as
//     `Record<string, unknown>[]`; here they are narrowed to each panel plugin's own generated
//     types (the `raw/composable/*/panelcfg` modules of @grafana/schema) and to the Prometheus query.
//
// Reading a failure: the panels array is a union of every panel's type, and TypeScript reports the
// mismatch against the union member it found closest, which may be another panel. The innermost
// lines of the message (a field that is `never`, or "Type 'X' is not assignable to type 'Y'")
// name the culprit.

import type * as schema from '@grafana/schema';
import type * as bargauge from '@grafana/schema/dist/esm/raw/composable/bargauge/panelcfg/x/BarGaugePanelCfg_types.gen.js';
import type * as gauge from '@grafana/schema/dist/esm/raw/composable/gauge/panelcfg/x/GaugePanelCfg_types.gen.js';
import type * as piechart from '@grafana/schema/dist/esm/raw/composable/piechart/panelcfg/x/PieChartPanelCfg_types.gen.js';
import type * as stat from '@grafana/schema/dist/esm/raw/composable/stat/panelcfg/x/StatPanelCfg_types.gen.js';
import type * as timeseries from '@grafana/schema/dist/esm/raw/composable/timeseries/panelcfg/x/TimeSeriesPanelCfg_types.gen.js';

import dashboard from '../dashboards/wilton-quantum-balance.json';

type IsAny<T> = 0 extends 1 & T ? true : false;

/** The schema type `T` as a JSON import sees it: enums and literal unions widened to their base type. */
export type Widen<T> =
  IsAny<T> extends true
    ? T
    : T extends string
      ? string
      : T extends number
        ? number
        : T extends boolean
          ? boolean
          : T extends null | undefined
            ? T
            : T extends ReadonlyArray<infer E>
              ? Array<Widen<E>>
              : T extends object
                ? { [K in keyof T]: Widen<T[K]> }
                : T;

/**
 * `A` checked against schema `S`, recursively: a property `S` does not have becomes `never`, a leaf
 * takes the schema's type, and every object is also intersected with its schema type (so required
 * fields must be there). For a union schema (`Panel | RowPanel`) a JSON object must fit one member
 * entirely, not one member's field names and another's field types.
 */
export type Exact<A, S> =
  IsAny<S> extends true
    ? A
    : unknown extends S
      ? A
      : A extends ReadonlyArray<infer AE>
        ? S extends ReadonlyArray<infer SE>
          ? Array<Exact<AE, SE>>
          : never
        : A extends object
          ? ExactObject<A, S>
          : S;

type ExactObject<A, S> = S extends object
  ? S extends ReadonlyArray<unknown>
    ? never
    : S & { [K in keyof A]: K extends keyof S ? Exact<A[K], S[K]> : never }
  : never;

/**
 * A Prometheus target, as Grafana 11.6's Prometheus data source defines it (its `dataquery.cue`,
 * which @grafana/schema does not ship), on top of the common `DataQuery` of @grafana/schema.
 */
interface PrometheusQuery extends schema.DataQuery {
  expr: string;
  instant?: boolean;
  range?: boolean;
  exemplar?: boolean;
  editorMode?: 'code' | 'builder';
  format?: 'time_series' | 'table' | 'heatmap';
  legendFormat?: string;
  intervalFactor?: number;
  interval?: string;
  datasource?: { type?: 'prometheus'; uid?: string } | null;
}

/** A panel of one plugin: its options and custom field config from that plugin's schema. */
type PanelOf<Type extends string, Options, Custom> = Omit<schema.Panel, 'type' | 'options' | 'fieldConfig' | 'targets'> & {
  type: Type;
  // Grafana fills in the options a dashboard leaves out, so each top-level option is optional.
  options?: Partial<Options>;
  fieldConfig?: Omit<schema.FieldConfigSource, 'defaults'> & {
    defaults: Omit<schema.FieldConfig, 'custom'> & { custom?: Partial<Custom> };
  };
  targets?: PrometheusQuery[];
};

type WiltonPanel =
  | PanelOf<'stat', stat.Options, Record<string, never>>
  | PanelOf<'gauge', gauge.Options, Record<string, never>>
  | PanelOf<'bargauge', bargauge.Options, Record<string, never>>
  | PanelOf<'piechart', piechart.Options, piechart.FieldConfig>
  | PanelOf<'timeseries', timeseries.Options, timeseries.FieldConfig>;

type WiltonDashboard = Omit<schema.Dashboard, 'panels'> & {
  panels?: Array<WiltonPanel | (Omit<schema.RowPanel, 'panels'> & { panels: WiltonPanel[] })>;
};

// The dashboard against Grafana's `Dashboard`, panels narrowed to their plugins' schemas ...
export const wilton: Exact<typeof dashboard, Widen<WiltonDashboard>> = dashboard;
// ... and against the plain `Dashboard` of @grafana/schema, as Grafana itself types it.
export const grafana: Exact<typeof dashboard, Widen<schema.Dashboard>> = dashboard;
