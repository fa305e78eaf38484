// A list that renders only the rows in view (plus a few), so queues of tens of thousands of
// items scroll smoothly: fixed row height, one spacer above and one below; `onNearEnd` lets
// the owner fetch the next page before the end is reached.
import type { ComponentChildren } from 'preact';
import { useState } from 'preact/hooks';

export function VirtualList<T>({ id, items, rowHeight, height, row, onNearEnd }: {
  id: string;
  items: T[];
  rowHeight: number;
  height: number;
  row: (item: T, index: number) => ComponentChildren;
  /** Called when the view comes within two screens of the last row (to load the next page). */
  onNearEnd?: () => void;
}) {
  const [top, setTop] = useState(0);
  const first = Math.max(0, Math.floor(top / rowHeight) - 5);
  const count = Math.ceil(height / rowHeight) + 10;
  const shown = items.slice(first, first + count);
  return (
    <div class="virtual" style={{ height: `${height}px` }} onScroll={(e) => {
      const at = (e.currentTarget as HTMLElement).scrollTop;
      setTop(at);
      if (onNearEnd && at + 3 * height >= items.length * rowHeight) onNearEnd();
    }}>
      <ul id={id} style={{ paddingTop: `${first * rowHeight}px`, height: `${items.length * rowHeight}px` }}>
        {shown.map((item, i) => row(item, first + i))}
      </ul>
    </div>
  );
}
