/**
 * A labelled select. The label is tied by id rather than wrapped: a wrapping label would make the
 * select's accessible name include its current option ("Decision Any").
 */
export function Select(props: {
  label: string;
  name: string;
  value: string;
  options: readonly (readonly [value: string, text: string])[];
  onChange: (value: string) => void;
  inline?: boolean;
}) {
  const id = `field-${props.name}`;
  return (
    <div class={props.inline ? 'field field-inline' : 'field'}>
      <label for={id}>{props.label}</label>
      <select
        id={id}
        name={props.name}
        value={props.value}
        onChange={(e) => props.onChange((e.currentTarget as HTMLSelectElement).value)}
      >
        {props.options.map(([value, text]) => (
          <option key={value} value={value}>
            {text}
          </option>
        ))}
      </select>
    </div>
  );
}
