/**
 * Charts for reports: a Vega-Lite spec compiled with `vega-lite`, rendered headless to SVG by `vega` (no canvas:
 * renderer 'none'), and rasterised to PNG by `@resvg/resvg-js`. No SVG is written by hand here; the one chart
 * kind so far is a line chart with one line per series value, optionally faceted into panels.
 */
import {Resvg} from '@resvg/resvg-js'
import * as vega from 'vega'
import {type TopLevelSpec, compile} from 'vega-lite'

export interface ChartAxis {
  /** The row field plotted on this axis. */
  field: string
  title?: string
  /** Default 'linear'. */
  scale?: 'log' | 'linear'
  /** Base of a log scale (default 10; 2 suits widths and learning rates on a log2 grid). */
  base?: number
  /** Start a linear axis at zero (default false: fit the data). */
  zero?: boolean
  /** Explicit tick values (e.g. the widths of a sweep on a log axis). */
  ticks?: readonly number[]
  /** Fixed axis range; marks outside it are clipped (e.g. to keep diverged runs from flattening the rest). */
  domain?: readonly [number, number]
}

export type Row = Record<string, unknown>

export interface LineChartOptions {
  title: string
  x: ChartAxis
  y: ChartAxis
  /** The field whose values get one line (and one colour) each. */
  series: string
  seriesTitle?: string
  /** One panel per value of this field, side by side (sharing the y scale). */
  facet?: {field: string; title?: string; columns?: number; sort?: readonly (string | number)[]}
  data: readonly Row[]
  /** One panel's size in pixels (default 360 × 240). */
  width?: number
  height?: number
  /** Mark the data points (default true). */
  points?: boolean
  /** PNG pixels per SVG pixel (default 2). */
  pngScale?: number
}

export interface Chart {
  svg: string
  png: Uint8Array
  /** The Vega-Lite spec the chart was compiled from (data inlined). */
  spec: TopLevelSpec
}

/**
 * The Vega-Lite spec of a line chart. Rows whose x or y is missing, not finite, or not positive on a log axis
 * are left out (e.g. diverged runs), so lines join the points that exist.
 */
export function lineChartSpec(o: LineChartOptions): TopLevelSpec {
  const ok = (v: unknown, a: ChartAxis) => typeof v === 'number' && Number.isFinite(v) && (a.scale !== 'log' || v > 0)
  const values = o.data.filter((r) => ok(r[o.x.field], o.x) && ok(r[o.y.field], o.y)).map((r) => ({...r}))
  const numericSeries = values.length > 0 && values.every((r) => typeof r[o.series] === 'number')
  const axis = (a: ChartAxis) => ({
    field: a.field,
    type: 'quantitative' as const,
    title: a.title ?? a.field,
    scale: {
      ...(a.scale === 'log' ? {type: 'log' as const, base: a.base ?? 10} : {zero: a.zero ?? false}),
      ...(a.domain ? {domain: [...a.domain]} : {}),
    },
    ...(a.ticks ? {axis: {values: [...a.ticks]}} : {}),
  })
  const unit = {
    width: o.width ?? 360,
    height: o.height ?? 240,
    mark: {type: 'line' as const, point: o.points ?? true, clip: true},
    encoding: {
      x: axis(o.x),
      y: axis(o.y),
      color: {
        field: o.series,
        type: numericSeries ? ('ordinal' as const) : ('nominal' as const),
        title: o.seriesTitle ?? o.series,
        scale: {scheme: 'tableau10'},
        ...(numericSeries ? {sort: 'ascending' as const} : {}),
      },
      tooltip: [{field: o.series}, {field: o.x.field}, {field: o.y.field}],
    },
  }
  const base = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: o.title,
    data: {values},
    background: 'white',
    config: {font: FONT},
  }
  if (!o.facet) return {...base, ...unit} as TopLevelSpec
  return {
    ...base,
    facet: {field: o.facet.field, type: 'nominal', title: o.facet.title ?? o.facet.field, ...(o.facet.sort ? {sort: [...o.facet.sort]} : {})},
    columns: o.facet.columns,
    resolve: {scale: {x: 'independent'}},
    spec: unit,
  } as TopLevelSpec
}

/** Sans-serif faces common on Linux, macOS and Windows, in that order of preference, then the generic family. */
const FONT = 'DejaVu Sans, Liberation Sans, Helvetica, Arial, sans-serif'

/** Renders a line chart to SVG and PNG. */
export async function lineChart(o: LineChartOptions): Promise<Chart> {
  const spec = lineChartSpec(o)
  const svg = await renderSvg(spec)
  return {svg, png: svgToPng(svg, o.pngScale ?? 2), spec}
}

/** Compiles a Vega-Lite spec and renders it headless to an SVG document. */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), {renderer: 'none'})
  try {
    return await view.toSVG()
  } finally {
    view.finalize()
  }
}

/** Rasterises an SVG document to PNG bytes (system fonts for the text). */
export function svgToPng(svg: string, scale = 2): Uint8Array {
  const r = new Resvg(svg, {fitTo: {mode: 'zoom', value: scale}, background: 'white', font: {loadSystemFonts: true}})
  return new Uint8Array(r.render().asPng())
}
