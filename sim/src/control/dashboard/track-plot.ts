/// <reference lib="dom" />
/**
 * The plotted GNSS track: the fixes a Key took (only while its firmware allowed sampling), as an
 * SVG polyline scaled to their bounding box — offline, no map tiles.
 * @module
 */
import type { GnssFix } from '../../firmware/physical/types.ts';
import { svg } from './dom.ts';

const W = 320;
const H = 200;
const PAD = 14;

/** Draws `fixes` into `root` (replacing what was there). */
export function plotTrack(root: SVGSVGElement, fixes: readonly GnssFix[]): void {
  root.replaceChildren();
  root.setAttribute('viewBox', `0 0 ${W} ${H}`);
  root.append(svg('rect', { x: 0, y: 0, width: W, height: H, class: 'plot-bg' }));
  if (fixes.length === 0) {
    const t = svg('text', { x: W / 2, y: H / 2, 'text-anchor': 'middle', class: 'plot-empty' });
    t.textContent = 'no fixes taken (GNSS off, or no track)';
    root.append(t);
    return;
  }
  const lats = fixes.map((f) => f.lat);
  const lons = fixes.map((f) => f.lon);
  const [minLat, maxLat, minLon, maxLon] = [Math.min(...lats), Math.max(...lats), Math.min(...lons), Math.max(...lons)];
  const span = Math.max(maxLat - minLat, maxLon - minLon, 1e-6);
  const x = (lon: number) => PAD + ((lon - minLon) / span) * (W - 2 * PAD);
  const y = (lat: number) => H - PAD - ((lat - minLat) / span) * (H - 2 * PAD);
  root.append(
    svg('polyline', { points: fixes.map((f) => `${x(f.lon).toFixed(1)},${y(f.lat).toFixed(1)}`).join(' '), class: 'plot-line' }),
  );
  const last = fixes[fixes.length - 1] as GnssFix;
  root.append(svg('circle', { cx: x(last.lon), cy: y(last.lat), r: 4, class: 'plot-last' }));
  const label = svg('text', { x: PAD, y: H - 3, class: 'plot-label' });
  label.textContent = `${fixes.length} fixes · last ${last.lat.toFixed(5)}, ${last.lon.toFixed(5)}`;
  root.append(label);
}
